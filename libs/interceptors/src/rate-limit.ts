/**
 * Rate limiting per principal and method with rate-limiter-flexible: each (principal, method)
 * key gets `points` calls per `duration` seconds. The default store is RateLimiterMemory (one
 * process); any limiter with the same `consume()` (RateLimiterRedis, BurstyRateLimiter for a
 * steady rate plus a burst allowance, the token bucket's two parameters) plugs in unchanged.
 *
 * Over the limit the call ends with RESOURCE_EXHAUSTED carrying the wait twice:
 * - `google.rpc.RetryInfo { retry_delay }` in `grpc-status-details-bin` (grpc's richer error
 *   model): what application code and Google-style client libraries read;
 * - the `grpc-retry-pushback-ms` trailer (gRFC A6): what gRPC libraries' built-in retries read
 *   (grpc-js `retrying-call.ts`, grpc-go, grpc-java), but only when the channel's service
 *   config has a retryPolicy listing RESOURCE_EXHAUSTED; otherwise they ignore it.
 */
import * as grpc from '@grpc/grpc-js';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuthUser } from './auth.js';
import { callContext, recordStatus, runInCallContext } from './call-context.js';
import { richStatus } from './error-details.js';
import { matchesMethodPattern } from './public-methods.js';

/** The part of a rate-limiter-flexible limiter this interceptor uses (RateLimiterAbstract and the wrappers have it). */
export type ConsumingLimiter = Pick<RateLimiterAbstract, 'consume'>;

/** The gRFC A6 trailer: how long the client's retry should wait, integer ms as ASCII. */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';
/** The status message of a rate-limited call. */
export const RATE_LIMITED_MESSAGE = 'rate limit exceeded';

/** Options of {@link rateLimitInterceptor}. */
export interface RateLimitInterceptorOptions {
  /** The default limiter (default: RateLimiterMemory, 100 points per 1 s). */
  limiter?: ConsumingLimiter;
  /** Other limiters for some methods (first match of A43-style path patterns wins). */
  methodLimiters?: Array<{ paths: string[]; limiter: ConsumingLimiter }>;
  /** Methods never limited (default: grpc.health.v1.Health, so probes never fail for load). */
  exempt?: readonly string[];
  /** Called when the limiter's store fails (e.g. Redis down); the call is let through (fail open). */
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
 * `grpc-retry-pushback-ms` = the same ms. Runs after auth so the principal is the user.
 */
export function rateLimitInterceptor(options: RateLimitInterceptorOptions = {}): grpc.ServerInterceptor {
  const defaultLimiter = options.limiter ?? new RateLimiterMemory({ points: 100, duration: 1 });
  const exempt = options.exempt ?? RATE_LIMIT_EXEMPT_METHODS;
  const limiterFor = (path: string) => options.methodLimiters?.find((m) => m.paths.some((p) => matchesMethodPattern(path, p)))?.limiter ?? defaultLimiter;
  return (method, call) => {
    if (exempt.some((p) => matchesMethodPattern(method.path, p))) return new grpc.ServerInterceptingCall(call);
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
                  if (rejection instanceof Error) {
                    options.onStoreError?.(rejection);
                    return runInCallContext(ctx, () => nextMetadata(metadata));
                  }
                  ended = true;
                  const waitMs = Math.max(0, Math.ceil(rejection.msBeforeNext));
                  const trailers = new grpc.Metadata();
                  trailers.set(RETRY_PUSHBACK_KEY, String(waitMs));
                  const st = richStatus(grpc.status.RESOURCE_EXHAUSTED, RATE_LIMITED_MESSAGE, [{ type: 'RetryInfo', retryDelayMs: waitMs }], trailers);
                  recordStatus(ctx, st);
                  call.sendStatus(st);
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
