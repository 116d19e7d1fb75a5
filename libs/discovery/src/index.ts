/**
 * @grpc-patterns/discovery: service discovery for grpc-js 1.14 on its experimental API.
 *
 * - name resolvers: `etcd:///<service>` (etcd's gRPC naming layout, interoperable with
 *   grpc-go) and `consul://host:port/<service>?tag=&dc=` (health API, blocking queries);
 * - registrars for both, driven by `serve()` (register when SERVING, deregister before drain);
 * - a `canary` load-balancing policy routing by call metadata and endpoint version.
 *
 * See docs/discovery.md.
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
