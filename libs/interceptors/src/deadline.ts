/**
 * deadline: no call runs forever. A call without a deadline gets the server default; a call
 * whose deadline is further away than the configured maximum is cut to it. Streams get their
 * own, longer limits. When the effective deadline passes, the call is ended with
 * DEADLINE_EXCEEDED "Deadline exceeded" (grpc-js' own text for the client's deadline), which
 * cancels the handler ('cancelled' event, grpc-kit's call signal). The effective deadline is
 * written to the call context (`deadline`), so downstream calls made through
 * clientPropagationInterceptor carry it.
 *
 * The shape of the pattern: nice-grpc's `deadlineMiddleware` and Envoy's
 * `max_stream_duration`/`grpc_timeout_header_max` (a cap on what the caller asks for).
 */
import * as grpc from '@grpc/grpc-js';
import { callContext, contextListener, recordStatus } from './call-context.js';

/** setTimeout fires at once for delays above 2^31-1 ms (24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Default deadline and cap for one class of calls, ms. */
export interface DeadlineLimits {
  /** Given to calls that arrive without a deadline, ms. */
  defaultMs: number;
  /** The furthest deadline a call may have, ms from its arrival (>= defaultMs). */
  maxMs: number;
}

/** Options of {@link deadlineInterceptor}. */
export interface DeadlineOptions {
  /** Unary calls. Default {@link DEFAULT_UNARY_LIMITS}. */
  unary?: DeadlineLimits;
  /** Client-streaming, server-streaming and bidi calls. Default {@link DEFAULT_STREAM_LIMITS}. */
  stream?: DeadlineLimits;
}

/**
 * Unary: 10 s when the caller set none, at most 30 s. Every unary method of this repo answers
 * in milliseconds; 30 s leaves room for a slow database without letting a stuck call pin
 * resources.
 */
export const DEFAULT_UNARY_LIMITS: DeadlineLimits = { defaultMs: 10_000, maxMs: 30_000 };

/**
 * Streams: 1 h without a deadline, at most 1 h. Chat and analytics streams are long-lived by
 * design; an hour bounds them so a forgotten client cannot hold a stream (and its memory)
 * forever, and is rare enough that reconnecting costs nothing.
 */
export const DEFAULT_STREAM_LIMITS: DeadlineLimits = { defaultMs: 3_600_000, maxMs: 3_600_000 };

/**
 * The deadline a call gets, ms since epoch: `now + defaultMs` when the client sent none,
 * else the earlier of the client's deadline and `now + maxMs`.
 *
 * @param clientDeadline ms since epoch, or undefined when the client set none.
 */
export function effectiveDeadline(clientDeadline: number | undefined, limits: DeadlineLimits, now = Date.now()): number {
  if (clientDeadline === undefined) return now + limits.defaultMs;
  return Math.min(clientDeadline, now + limits.maxMs);
}

/**
 * Server interceptor applying the default deadline and the cap (docs/observability.md "Deadlines"); it arms a timer
 * only when that deadline is earlier than the client's own (grpc-js enforces that one), cleared when the call ends.
 */
export function deadlineInterceptor(options: DeadlineOptions = {}): grpc.ServerInterceptor {
  const unary = options.unary ?? DEFAULT_UNARY_LIMITS;
  const stream = options.stream ?? DEFAULT_STREAM_LIMITS;
  return (method, call) => {
    const ctx = callContext(method, call);
    const limits = method.requestStream || method.responseStream ? stream : unary;
    const clientDeadline = ctx.deadline;
    const deadline = effectiveDeadline(clientDeadline, limits);
    ctx.deadline = deadline;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      ended = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    if (clientDeadline === undefined || deadline < clientDeadline) {
      timer = setTimeout(
        () => {
          if (ended) return;
          stop();
          const status = { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: null };
          recordStatus(ctx, status);
          // Sent below this interceptor: the outer ones (logging, metrics) see it, the inner
          // ones and the handler get onCancel / 'cancelled'.
          call.sendStatus(status);
        },
        Math.min(MAX_TIMER_MS, Math.max(0, deadline - Date.now())),
      );
      timer.unref?.();
    }
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next(contextListener(ctx, { onCancel: stop })),
      sendStatus: (status, next) => {
        if (ended) return; // the deadline already ended the call: a late status goes nowhere
        stop();
        recordStatus(ctx, status);
        next(status);
      },
    });
  };
}
