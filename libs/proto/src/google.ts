/** google.rpc (googleapis' status and error-detail messages), for `grpc-status-details-bin`. */
export { Status } from './gen/google/rpc/status.js';
export {
  BadRequest,
  BadRequest_FieldViolation,
  DebugInfo,
  ErrorInfo,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  QuotaFailure,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
} from './gen/google/rpc/error_details.js';
