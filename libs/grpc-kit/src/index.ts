export * from './errors.js';
export * from './handlers.js';
export * from './decode-limit.js';
export * from './server.js';
export * from './client.js';
export * from './health.js';
export * from './tls.js';
