// Placeholder: replaced by the analytics service implementation.
export {};
