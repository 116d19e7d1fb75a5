/**
 * Typed errors that handlers throw and the kit turns into gRPC statuses. The status codes
 * follow grpc/grpc `doc/statuscodes.md`: INVALID_ARGUMENT for bad input whatever the state,
 * FAILED_PRECONDITION when the system state forbids the call, UNAUTHENTICATED for missing or
 * bad credentials, and so on. Unexpected exceptions never reach the client: they become
 * INTERNAL with a generic message and go to the log.
 *
 * Rich details follow gRPC's "richer error model" (grpc.io/docs/guides/error): a serialized
 * google.rpc.Status (googleapis `google/rpc/status.proto`) whose `details` are
 * google.protobuf.Any-packed messages from `google/rpc/error_details.proto`, sent in the
 * binary trailer `grpc-status-details-bin`. Any gRPC client (Go `status.FromError`, Java
 * `StatusProto.fromThrowable`, Python `grpc_status.rpc_status.from_call`) reads it.
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { googleProtobuf, googleRpc } from '@grpc-patterns/proto';

/** One bad field of a request, as google.rpc.BadRequest.FieldViolation describes it. */
export interface FieldViolation {
  /** Path of the field in the request, proto names, as google.rpc.BadRequest writes it ("items[0].quantity"). */
  field: string;
  description: string;
  /** Optional UPPER_SNAKE_CASE cause (google.rpc.BadRequest.FieldViolation.reason), e.g. "REQUIRED". */
  reason?: string;
}

/**
 * A google.rpc error detail (googleapis `google/rpc/error_details.proto`), packed into an Any of `Status.details`:
 * `BadRequest`, the wrong fields (INVALID_ARGUMENT); `RetryInfo`, the wait before a retry in ms (RESOURCE_EXHAUSTED,
 * UNAVAILABLE); `ErrorInfo`, a machine-readable reason in a domain, with string metadata.
 */
export type ErrorDetail =
  | { type: 'BadRequest'; fieldViolations: FieldViolation[] }
  | { type: 'RetryInfo'; retryDelayMs: number }
  | { type: 'ErrorInfo'; reason: string; domain: string; metadata?: Record<string, string> };

/** The binary trailer carrying a serialized google.rpc.Status (grpc's richer error model). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** Type URLs of the packed details: "type.googleapis.com/" + the full message name (any.proto). */
export const DETAIL_TYPE_URLS = {
  BadRequest: 'type.googleapis.com/google.rpc.BadRequest',
  RetryInfo: 'type.googleapis.com/google.rpc.RetryInfo',
  ErrorInfo: 'type.googleapis.com/google.rpc.ErrorInfo',
} as const;

/** An error with a gRPC status code; `message` is sent to the client as the status details. */
export class GrpcError extends Error {
  /**
   * @param fieldViolations sent as a google.rpc.BadRequest in `grpc-status-details-bin`.
   * @param details further google.rpc details (RetryInfo, ErrorInfo...) sent the same way.
   */
  constructor(
    readonly code: status,
    message: string,
    readonly metadata: Metadata = new Metadata(),
    readonly fieldViolations: FieldViolation[] = [],
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

/**
 * INVALID_ARGUMENT naming each bad field: the message reads `username: must not be empty`
 * (several violations are joined with "; "), and the same violations travel as a
 * google.rpc.BadRequest in `grpc-status-details-bin`.
 */
export function invalidArgument(violations: FieldViolation[]): GrpcError;
export function invalidArgument(field: string, description: string): GrpcError;
export function invalidArgument(a: FieldViolation[] | string, description?: string): GrpcError {
  const violations = typeof a === 'string' ? [{ field: a, description: description ?? 'is invalid' }] : a;
  const message = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
  return new GrpcError(status.INVALID_ARGUMENT, message, new Metadata(), violations);
}

/** The message clients see for any unexpected error (the detail goes to the log only). */
export const INTERNAL_MESSAGE = 'internal error';

/** Status names as in the gRPC spec ("INVALID_ARGUMENT"), by code. */
export function statusName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}

/**
 * Maps what a handler threw to what grpc-js sends: a GrpcError keeps code, message and a copy of its metadata plus
 * its details in `grpc-status-details-bin`; a downstream ServiceError passes as it came; anything else is INTERNAL
 * "internal error", handed to `report`.
 */
export function toStatus(error: unknown, report: (error: unknown) => void): Partial<StatusObject> & { code: status; details: string } {
  if (error instanceof GrpcError) {
    const details: ErrorDetail[] = error.fieldViolations.length > 0 ? [{ type: 'BadRequest', fieldViolations: error.fieldViolations }, ...error.details] : error.details;
    if (details.length === 0) return { code: error.code, details: error.message, metadata: error.metadata };
    const metadata = error.metadata.clone();
    metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails(error.code, error.message, details));
    return { code: error.code, details: error.message, metadata };
  }
  if (isServiceError(error)) return { code: error.code, details: error.details, metadata: error.metadata };
  report(error);
  return { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata: new Metadata() };
}

/** True for an error that came from a grpc-js call (it has a numeric `code` and `details`). */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as ServiceError).code === 'number' && typeof (error as ServiceError).details === 'string';
}

/**
 * Serializes google.rpc.Status { code, message, details } for `grpc-status-details-bin`.
 * `message` must be the status details (grpc-message) sent with it: the richer error model
 * requires the two to agree, and clients such as Go's `status.FromError` check the code.
 */
export function encodeStatusDetails(code: status, message: string, details: ErrorDetail[]): Buffer {
  const st = googleRpc.Status.fromPartial({ code, message, details: details.map(packDetail) });
  return Buffer.from(googleRpc.Status.encode(st).finish());
}

/** Packs one detail into google.protobuf.Any with its "type.googleapis.com/google.rpc.*" URL. */
export function packDetail(detail: ErrorDetail): googleProtobuf.Any {
  switch (detail.type) {
    case 'BadRequest': {
      const message = googleRpc.BadRequest.fromPartial({
        fieldViolations: detail.fieldViolations.map((v) => ({ field: v.field, description: v.description, reason: v.reason ?? '' })),
      });
      return { typeUrl: DETAIL_TYPE_URLS.BadRequest, value: Buffer.from(googleRpc.BadRequest.encode(message).finish()) };
    }
    case 'RetryInfo': {
      const message = googleRpc.RetryInfo.fromPartial({ retryDelay: msToDuration(detail.retryDelayMs) });
      return { typeUrl: DETAIL_TYPE_URLS.RetryInfo, value: Buffer.from(googleRpc.RetryInfo.encode(message).finish()) };
    }
    case 'ErrorInfo': {
      const message = googleRpc.ErrorInfo.fromPartial({ reason: detail.reason, domain: detail.domain, metadata: detail.metadata ?? {} });
      return { typeUrl: DETAIL_TYPE_URLS.ErrorInfo, value: Buffer.from(googleRpc.ErrorInfo.encode(message).finish()) };
    }
  }
}

/** ms -> google.protobuf.Duration (whole seconds + nanos, both non-negative here). */
function msToDuration(ms: number): googleProtobuf.Duration {
  const whole = Math.max(0, Math.round(ms));
  return { seconds: String(Math.floor(whole / 1000)), nanos: (whole % 1000) * 1_000_000 };
}
