// Placeholder: replaced by the orders service implementation.
export {};
