// Filled in by the interceptors issue.
export {};
