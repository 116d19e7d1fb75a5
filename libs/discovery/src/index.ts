/**
 * @grpc-patterns/discovery: `etcd:` and `consul:` name resolvers, their registrars (driven by `serve()`)
 * and a `canary` load-balancing policy, on grpc-js 1.14's experimental API. See docs/discovery.md.
 */
export * from './endpoints.js';
export * from './registrar.js';
export * from './etcd-client.js';
export * from './etcd-resolver.js';
export * from './etcd-registrar.js';
export * from './consul.js';
export * from './consul-resolver.js';
export * from './consul-registrar.js';
export * from './canary.js';
export * from './from-config.js';
