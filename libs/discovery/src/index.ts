// Filled in by the discovery issue.
export {};
