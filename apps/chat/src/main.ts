// Placeholder: replaced by the chat service implementation.
export {};
