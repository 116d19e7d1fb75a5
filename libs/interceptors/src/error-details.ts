/**
 * gRPC's richer error model (grpc.io/docs/guides/error): a google.rpc.Status (googleapis
 * `google/rpc/status.proto`) with google.protobuf.Any-packed details from
 * `google/rpc/error_details.proto`, serialized into the binary trailer `grpc-status-details-bin`.
 *
 * Encoding lives in grpc-kit (`toStatus` attaches it to every GrpcError with field violations
 * or details); this module adds what interceptors need to end a call themselves with such a
 * status ({@link richStatus}), and the decoder our own tests and clients use
 * ({@link decodeStatusDetails}). Other clients use their library's decoder (Go
 * `status.FromError(err).Details()`, Python `grpc_status.rpc_status.from_call`).
 */
import { Metadata, status as grpcStatus, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { DETAIL_TYPE_URLS, encodeStatusDetails, STATUS_DETAILS_KEY, type ErrorDetail, type FieldViolation } from '@grpc-patterns/grpc-kit';
import { googleProtobuf, googleRpc } from '@grpc-patterns/proto';

export { DETAIL_TYPE_URLS, encodeStatusDetails, STATUS_DETAILS_KEY, type ErrorDetail };

/** A status as a server interceptor sends it with `call.sendStatus()`. */
export type InterceptorStatus = Partial<StatusObject> & { code: grpcStatus; details: string; metadata: Metadata };

/**
 * Builds the status an interceptor ends a call with: `code`, `message` as grpc-message, and
 * `details` encoded as google.rpc.Status in `grpc-status-details-bin` (omitted when there are
 * none). `trailers` (copied) adds further trailing metadata, e.g. `grpc-retry-pushback-ms`.
 */
export function richStatus(code: grpcStatus, message: string, details: ErrorDetail[] = [], trailers?: Metadata): InterceptorStatus {
  const metadata = trailers ? trailers.clone() : new Metadata();
  if (details.length > 0) metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails(code, message, details));
  return { code, details: message, metadata };
}

/** What {@link decodeStatusDetails} returns: the Status fields and the details it knows, decoded. */
export interface DecodedStatusDetails {
  /** google.rpc.Status.code; equals the call's grpc-status. */
  code: number;
  /** google.rpc.Status.message; equals the call's grpc-message. */
  message: string;
  /** From a google.rpc.BadRequest detail, if any. */
  fieldViolations?: FieldViolation[];
  /** From a google.rpc.RetryInfo detail: retry_delay in ms. */
  retryDelayMs?: number;
  /** From a google.rpc.ErrorInfo detail. */
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** Type URLs of details this decoder does not know (kept, not dropped silently). */
  otherTypeUrls: string[];
}

/**
 * Decodes `grpc-status-details-bin` of a failed call's error (or trailing metadata); undefined without the trailer.
 * @throws Error when it is no valid google.rpc.Status, or its code differs from the call's (as Go's `status.FromError`).
 */
export function decodeStatusDetails(source: ServiceError | Metadata): DecodedStatusDetails | undefined {
  const metadata = source instanceof Metadata ? source : source.metadata;
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') throw new Error(`${STATUS_DETAILS_KEY} is not binary`);
  const st = googleRpc.Status.decode(raw);
  if (!(source instanceof Metadata) && st.code !== source.code) {
    throw new Error(`${STATUS_DETAILS_KEY} has code ${st.code} but the call ended with ${source.code}`);
  }
  const decoded: DecodedStatusDetails = { code: st.code, message: st.message, otherTypeUrls: [] };
  for (const any of st.details) unpack(any, decoded);
  return decoded;
}

function unpack(any: googleProtobuf.Any, into: DecodedStatusDetails): void {
  switch (any.typeUrl) {
    case DETAIL_TYPE_URLS.BadRequest: {
      const message = googleRpc.BadRequest.decode(any.value);
      into.fieldViolations = message.fieldViolations.map((v) => (v.reason ? { field: v.field, description: v.description, reason: v.reason } : { field: v.field, description: v.description }));
      return;
    }
    case DETAIL_TYPE_URLS.RetryInfo: {
      const delay = googleRpc.RetryInfo.decode(any.value).retryDelay;
      into.retryDelayMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1_000_000) : 0;
      return;
    }
    case DETAIL_TYPE_URLS.ErrorInfo: {
      const message = googleRpc.ErrorInfo.decode(any.value);
      into.errorInfo = { reason: message.reason, domain: message.domain, metadata: { ...message.metadata } };
      return;
    }
    default:
      into.otherTypeUrls.push(any.typeUrl);
  }
}
