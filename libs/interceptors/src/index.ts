// The server interceptor chain, client propagation and rich errors (docs/interceptors.md); the
// start-up that runs the chain is @grpc-patterns/runtime.
export * from './call-context.js';
export * from './error-details.js';
export * from './public-methods.js';
export * from './auth.js';
export * from './authz.js';
export * from './rate-limit.js';
export * from './validation.js';
export * from './recovery.js';
export * from './tracing.js';
export * from './server-metrics.js';
export * from './logging.js';
export * from './request-id.js';
export * from './deadline.js';
export * from './client-propagation.js';
export * from './client-metrics.js';
export * from './chain.js';
export * from './rate-limit-store.js';
export * from './auth-failure-budget.js';
