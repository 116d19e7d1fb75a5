/**
 * Typed errors that handlers throw and the kit turns into gRPC statuses. The status codes
 * follow grpc/grpc `doc/statuscodes.md`: INVALID_ARGUMENT for bad input whatever the state,
 * FAILED_PRECONDITION when the system state forbids the call, UNAUTHENTICATED for missing or
 * bad credentials, and so on. Unexpected exceptions never reach the client: they become
 * INTERNAL with a generic message and go to the log.
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';

/** One bad field of a request, as google.rpc.BadRequest.FieldViolation describes it. */
export interface FieldViolation {
  /** Path of the field in the request, proto names, as google.rpc.BadRequest writes it ("items[0].quantity"). */
  field: string;
  description: string;
}

/** An error with a gRPC status code; `message` is sent to the client as the status details. */
export class GrpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly metadata: Metadata = new Metadata(),
    readonly fieldViolations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

/**
 * INVALID_ARGUMENT naming each bad field: the message reads `username: must not be empty`
 * (several violations are joined with "; ").
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
 * Maps anything a handler threw to what grpc-js sends: a GrpcError keeps its code, message and
 * metadata; anything else becomes INTERNAL "internal error" and `report` is called with it.
 */
export function toStatus(error: unknown, report: (error: unknown) => void): Partial<StatusObject> & { code: status; details: string } {
  if (error instanceof GrpcError) return { code: error.code, details: error.message, metadata: error.metadata };
  if (isServiceError(error)) return { code: error.code, details: error.details, metadata: error.metadata };
  report(error);
  return { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata: new Metadata() };
}

/** True for an error that came from a grpc-js call (it has a numeric `code` and `details`). */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as ServiceError).code === 'number' && typeof (error as ServiceError).details === 'string';
}
