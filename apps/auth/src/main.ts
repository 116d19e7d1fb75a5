// Placeholder: replaced by the auth service implementation.
export {};
