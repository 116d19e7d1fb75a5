// Placeholder: replaced by the metrics service implementation.
export {};
