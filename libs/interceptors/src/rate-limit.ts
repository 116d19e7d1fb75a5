/**
 * Rate limiting per principal and method with rate-limiter-flexible: each (principal, method)
 * key gets `points` calls per `duration` seconds. The default store is RateLimiterMemory (one
 * process); any limiter with the same `consume()` (RateLimiterRedis, BurstyRateLimiter for a
 * steady rate plus a burst allowance, the token bucket's two parameters) plugs in unchanged.
 *
 * One interceptor decides every outcome of the limit:
 * - under the limit: the call goes on;
 * - over the limit: RESOURCE_EXHAUSTED carrying the wait twice:
 *   - `google.rpc.RetryInfo { retry_delay }` in `grpc-status-details-bin` (grpc's richer error
 *     model): what application code and Google-style client libraries read;
 *   - the `grpc-retry-pushback-ms` trailer (gRFC A6): what gRPC libraries' built-in retries read
 *     (grpc-js `retrying-call.ts`, grpc-go, grpc-java), but only when the channel's service
 *     config has a retryPolicy listing RESOURCE_EXHAUSTED; otherwise they ignore it;
 * - the limiter's store failed (Redis down): `failMode` `open` lets the call through, `closed`
 *   ends it with UNAVAILABLE "rate limiter unavailable" (transient, safe to retry); either way
 *   `onStoreError` is told (rate-limit-store.ts logs once per outage).
 */
import * as grpc from '@grpc/grpc-js';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuthUser } from './auth.js';
import { callContext, recordStatus, runInCallContext } from './call-context.js';
import { richStatus, type InterceptorStatus } from './error-details.js';
import { matchesMethodPattern } from './public-methods.js';

/** The part of a rate-limiter-flexible limiter this interceptor uses (RateLimiterAbstract and the wrappers have it). */
export type ConsumingLimiter = Pick<RateLimiterAbstract, 'consume'>;

/** The gRFC A6 trailer: how long the client's retry should wait, integer ms as ASCII. */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';
/** The status message of a rate-limited call. */
export const RATE_LIMITED_MESSAGE = 'rate limit exceeded';

/** What to do with a call while the limiter's store cannot answer (RATE_LIMIT_FAIL). */
export type RateLimitFailMode = 'open' | 'closed';

/** Status message of a call rejected because the store is down and the fail mode is `closed`. */
export const RATE_LIMITER_UNAVAILABLE_MESSAGE = 'rate limiter unavailable';

/** Options of {@link rateLimitInterceptor}. */
export interface RateLimitInterceptorOptions {
  /** The default limiter (default: RateLimiterMemory, 100 points per 1 s). */
  limiter?: ConsumingLimiter;
  /** Other limiters for some methods (first match of A43-style path patterns wins). */
  methodLimiters?: Array<{ paths: string[]; limiter: ConsumingLimiter }>;
  /** Methods never limited (default: grpc.health.v1.Health, so probes never fail for load). */
  exempt?: readonly string[];
  /**
   * When the limiter's store fails (consume() rejects with an Error, e.g. Redis down):
   * `open` (default) lets the call through unlimited; `closed` ends it with UNAVAILABLE
   * {@link RATE_LIMITER_UNAVAILABLE_MESSAGE} before any message is read or the handler runs.
   */
  failMode?: RateLimitFailMode;
  /** Called on every store failure, before the fail mode applies (the caller decides how often to log). */
  onStoreError?: (error: unknown) => void;
}

/** Health checks are exempt by default: a probe failing under load would restart a busy server. */
export const RATE_LIMIT_EXEMPT_METHODS: readonly string[] = Object.freeze(['/grpc.health.v1.Health/*']);

/**
 * The principal part of the key: `user:<id>` for an authenticated call, else `peer:<ip>` from
 * grpc-js' peer string ("127.0.0.1:51234", "[::1]:51234"; the port is dropped so one client's
 * connections share a budget).
 */
export function rateLimitPrincipal(user: AuthUser | undefined, peer: string): string {
  if (user) return `user:${user.id}`;
  const host = peer.startsWith('[') ? peer.slice(1, peer.indexOf(']')) : peer.replace(/:\d+$/, '');
  return `peer:${host}`;
}

/**
 * Server interceptor: consumes one point of key `<principal>|<method path>` when a call's
 * metadata arrives, before any message is read or the handler runs (so a streaming call costs
 * one point however many messages it carries). Over the limit: RESOURCE_EXHAUSTED
 * "rate limit exceeded" with RetryInfo.retry_delay = the limiter's `msBeforeNext` and
 * `grpc-retry-pushback-ms` = the same ms. Store down: see {@link RateLimitInterceptorOptions.failMode}.
 * Runs after auth so the principal is the user.
 */
export function rateLimitInterceptor(options: RateLimitInterceptorOptions = {}): grpc.ServerInterceptor {
  const defaultLimiter = options.limiter ?? new RateLimiterMemory({ points: 100, duration: 1 });
  const exempt = options.exempt ?? RATE_LIMIT_EXEMPT_METHODS;
  const failClosed = options.failMode === 'closed';
  const limiterFor = (path: string) => options.methodLimiters?.find((m) => m.paths.some((p) => matchesMethodPattern(path, p)))?.limiter ?? defaultLimiter;
  return (method, call) => {
    if (exempt.some((p) => matchesMethodPattern(method.path, p))) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    let ended = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            // The user is in the call context when auth ran before (the documented chain order).
            const key = `${rateLimitPrincipal(ctx.user, call.getPeer())}|${method.path}`;
            limiterFor(method.path)
              .consume(key, 1)
              .then(
                () => {
                  if (!ended) runInCallContext(ctx, () => nextMetadata(metadata));
                },
                (rejection: RateLimiterRes | Error) => {
                  if (ended) return;
                  const end = (st: InterceptorStatus) => {
                    ended = true;
                    recordStatus(ctx, st);
                    call.sendStatus(st);
                  };
                  if (rejection instanceof Error) {
                    options.onStoreError?.(rejection);
                    if (!failClosed) return runInCallContext(ctx, () => nextMetadata(metadata));
                    return end(richStatus(grpc.status.UNAVAILABLE, RATE_LIMITER_UNAVAILABLE_MESSAGE));
                  }
                  const waitMs = Math.max(0, Math.ceil(rejection.msBeforeNext));
                  const trailers = new grpc.Metadata();
                  trailers.set(RETRY_PUSHBACK_KEY, String(waitMs));
                  end(richStatus(grpc.status.RESOURCE_EXHAUSTED, RATE_LIMITED_MESSAGE, [{ type: 'RetryInfo', retryDelayMs: waitMs }], trailers));
                },
              );
          },
          onCancel: () => {
            ended = true;
          },
        }),
    });
  };
}
