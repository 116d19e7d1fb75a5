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
 * Level of a finished call by status code: go-grpc-middleware v2 `logging.DefaultServerCodeToLevel`, but
 * caller-caused codes at info (the table and why: docs/observability.md "Logs").
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
  /**
   * Lines per second written for one method and non-OK code; past it, calls are counted and one
   * "finished call lines suppressed" line (warn) per method and code says how many, at the end of
   * the second. Default {@link ERROR_LINES_PER_SECOND}; 0 = no limit. OK calls are never sampled.
   */
  errorLinesPerSecond?: number;
}

/**
 * Default of {@link LoggingOptions.errorLinesPerSecond}: non-OK lines per method and code per second, zap's sampler
 * shape (docs/observability.md "Logs").
 */
export const ERROR_LINES_PER_SECOND = 10;

const SAMPLING_WINDOW_MS = 1_000;
/** Kinds tracked at once (method x code); past it the table is cleared (methods are the server's own, so it never is). */
const MAX_KINDS = 10_000;

interface Kind {
  windowStart: number;
  written: number;
  suppressed: number;
  timer?: NodeJS.Timeout;
}

/** Per (method, code) window counters: `admit` says whether a line may be written now. */
function errorSampler(logger: Logger, perSecond: number) {
  const kinds = new Map<string, Kind>();
  const summarize = (key: string, kind: Kind, method: string, code: string) => {
    clearTimeout(kind.timer);
    kind.timer = undefined;
    if (kind.suppressed > 0) {
      logger.warn({ 'grpc.method': method, 'grpc.code': code, suppressed: kind.suppressed, window_ms: SAMPLING_WINDOW_MS }, 'finished call lines suppressed');
    }
    kinds.delete(key);
  };
  return (method: string, code: string): boolean => {
    const now = Date.now();
    const key = `${method} ${code}`;
    let kind = kinds.get(key);
    if (kind && now - kind.windowStart >= SAMPLING_WINDOW_MS) {
      summarize(key, kind, method, code);
      kind = undefined;
    }
    if (!kind) {
      if (kinds.size >= MAX_KINDS) kinds.clear();
      kind = { windowStart: now, written: 0, suppressed: 0 };
      kinds.set(key, kind);
    }
    if (kind.written < perSecond) {
      kind.written++;
      return true;
    }
    kind.suppressed++;
    const current = kind;
    current.timer ??= setTimeout(() => kinds.get(key) === current && summarize(key, current, method, code), current.windowStart + SAMPLING_WINDOW_MS - now).unref();
    return false;
  };
}

/**
 * Server interceptor writing one "finished call" line per call as it ends, non-OK lines sampled (docs/observability.md
 * "Logs"); `request_id`, `trace_id` and `user` are read from the call context at the end, so place it outside the
 * request-id, tracing and auth interceptors.
 */
export function loggingInterceptor(options: LoggingOptions): grpc.ServerInterceptor {
  const { logger } = options;
  const toLevel = options.codeToLevel ?? serverCodeToLevel;
  const perSecond = options.errorLinesPerSecond ?? ERROR_LINES_PER_SECOND;
  const admit = perSecond > 0 ? errorSampler(logger, perSecond) : () => true;
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
            if (final.code !== grpc.status.OK && !admit(ctx.path, statusName(final.code))) return;
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
