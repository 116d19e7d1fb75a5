/**
 * Generated gRPC code for every service, one namespace per proto package
 * (`authV1` is proto package `auth.v1`, gen/packages.ts). Produced by `npm run codegen` (buf + ts-proto) from
 * proto/; never edited by hand.
 */
export * from './gen/packages.js';
export * as googleRpc from './google.js';
export * as googleProtobuf from './google-protobuf.js';
export { descriptorSetBase64 } from './gen/descriptor-set.js';
