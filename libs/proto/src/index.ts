/**
 * Generated gRPC code for every service, one namespace per proto package
 * (`authV1` is proto package `auth.v1`). Produced by `npm run codegen` (buf + ts-proto) from
 * proto/; never edited by hand.
 */
export * as authV1 from './gen/auth/v1/auth.js';
export * as analyticsV1 from './gen/analytics/v1/analytics.js';
export * as metricsV1 from './gen/metrics/v1/metrics.js';
export * as chatV1 from './gen/chat/v1/chat.js';
export * as ordersV1 from './gen/orders/v1/orders.js';
export * as googleRpc from './google.js';
export * as googleProtobuf from './google-protobuf.js';
export { descriptorSetBase64 } from './gen/descriptor-set.js';
