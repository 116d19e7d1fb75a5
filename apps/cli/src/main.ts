// Placeholder: replaced by the cli service implementation.
export {};
