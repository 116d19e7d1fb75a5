/**
 * logging: one pino JSON line per finished call ("finished call"), as go-grpc-middleware's
 * logging interceptor writes it, with a level chosen by the status code.
 *
 * Fields: `grpc.method` (full path, "/auth.v1.AuthService/Login"), `grpc.service`,
 * `grpc.type`, `grpc.code` (status name), `grpc.error` (the status details the client got,
 * non-OK only), `peer`, `duration_ms`, `request_id`, `trace_id`, `user` (user id). Never
 * message bodies, never metadata values other than x-request-id: no tokens, no passwords.
 */
import * as grpc from '@grpc/grpc-js';
import { statusName } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { callContext, contextListener, endCall, recordStatus } from './call-context.js';

/** pino levels the interceptor logs at. */
export type CallLogLevel = 'info' | 'warn' | 'error';

/**
 * Level of a finished call by status code. Shaped like go-grpc-middleware v2
 * `logging.DefaultServerCodeToLevel` (info for OK and caller errors, warn for transient
 * failures, error for server bugs), with one deliberate difference: PERMISSION_DENIED,
 * RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED and OUT_OF_RANGE are info here (warn there),
 * because in this system they are the expected outcome of a caller's request (a rate limit, a
 * role missing, an idempotency conflict), not something an operator must look at.
 *
 * | level | codes |
 * |---|---|
 * | info | OK, CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNAUTHENTICATED |
 * | warn | DEADLINE_EXCEEDED, UNAVAILABLE |
 * | error | UNKNOWN, UNIMPLEMENTED, INTERNAL, DATA_LOSS (and any unknown code) |
 */
export function serverCodeToLevel(code: grpc.status): CallLogLevel {
  switch (code) {
    case grpc.status.OK:
    case grpc.status.CANCELLED:
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.NOT_FOUND:
    case grpc.status.ALREADY_EXISTS:
    case grpc.status.PERMISSION_DENIED:
    case grpc.status.RESOURCE_EXHAUSTED:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.ABORTED:
    case grpc.status.OUT_OF_RANGE:
    case grpc.status.UNAUTHENTICATED:
      return 'info';
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.UNAVAILABLE:
      return 'warn';
    default:
      return 'error';
  }
}

/** Options of {@link loggingInterceptor}. */
export interface LoggingOptions {
  logger: Logger;
  /** Level per code; default {@link serverCodeToLevel}. */
  codeToLevel?: (code: grpc.status) => CallLogLevel;
}

/**
 * Server interceptor writing one "finished call" line per call when it ends (status sent, or
 * cancelled / deadline exceeded), with the fields listed above. `request_id`, `trace_id` and
 * `user` come from the call context, filled by the request-id, tracing and auth interceptors
 * (place it outside them in the chain; it reads them at the end of the call).
 *
 * Works for unary, client-streaming, server-streaming and bidi calls.
 */
export function loggingInterceptor(options: LoggingOptions): grpc.ServerInterceptor {
  const { logger } = options;
  const toLevel = options.codeToLevel ?? serverCodeToLevel;
  return (method, call) => {
    const ctx = callContext(method, call);
    let logged = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next(contextListener(ctx, {
          onCancel: () => {
            if (logged) return;
            logged = true;
            const final = endCall(ctx);
            const fields: Record<string, unknown> = {
              'grpc.method': ctx.path,
              'grpc.service': ctx.service,
              'grpc.type': ctx.type,
              'grpc.code': statusName(final.code),
              peer: ctx.peer,
              duration_ms: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
              request_id: ctx.requestId,
              trace_id: ctx.traceId,
              user: ctx.user?.id,
            };
            if (final.code !== grpc.status.OK) fields['grpc.error'] = final.details;
            logger[toLevel(final.code)](fields, 'finished call');
          },
        })),
      sendStatus: (status, next) => {
        recordStatus(ctx, status);
        next(status);
      },
    });
  };
}
