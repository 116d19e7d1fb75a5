/**
 * Rate limiting per principal and method behind one small interface, {@link Limiter}: given
 * who calls and which method, it answers allow, reject (with the wait) or store unavailable,
 * synchronously or as a promise. The shape is go-grpc-middleware's ratelimit `Limiter`
 * (`Limit(ctx) error`, interceptors/ratelimit/ratelimit.go) with the decision spelled out.
 * `rateLimiterFromConfig()` (rate-limit-store.ts) builds the token bucket, in memory or Redis.
 *
 * One interceptor turns every decision into the call's outcome:
 * - allow: the call goes on;
 * - reject: RESOURCE_EXHAUSTED carrying the wait twice:
 *   - `google.rpc.RetryInfo { retry_delay }` in `grpc-status-details-bin` (grpc's richer error
 *     model): what application code and Google-style client libraries read;
 *   - the `grpc-retry-pushback-ms` trailer (gRFC A6): what gRPC libraries' built-in retries read
 *     (grpc-js `retrying-call.ts`, grpc-go, grpc-java), but only when the channel's service
 *     config has a retryPolicy listing RESOURCE_EXHAUSTED; otherwise they ignore it;
 * - unavailable (the limiter's store failed and it fails closed): UNAVAILABLE "rate limiter
 *   unavailable" (transient, safe to retry). Failing open is the limiter's own answer: allow.
 */
import * as grpc from '@grpc/grpc-js';
import { toStatus } from '@grpc-patterns/grpc-kit';
import type { AuthUser } from './auth.js';
import { callContext, recordStatus, runInCallContext } from './call-context.js';
import { richStatus, type InterceptorStatus } from './error-details.js';
import { matchesMethodPattern } from './public-methods.js';

/** The gRFC A6 trailer: how long the client's retry should wait, integer ms as ASCII. */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';
/** The status message of a rate-limited call. */
export const RATE_LIMITED_MESSAGE = 'rate limit exceeded';

/** What to do with a call while the limiter's store cannot answer (RATE_LIMIT_FAIL). */
export type RateLimitFailMode = 'open' | 'closed';

/** Status message of a call rejected because the store is down and the fail mode is `closed`. */
export const RATE_LIMITER_UNAVAILABLE_MESSAGE = 'rate limiter unavailable';

/** The call a {@link Limiter} decides on. */
export interface LimitedCall {
  /** Who calls: {@link rateLimitPrincipal}, `user:<id>` or `peer:<ip>`. */
  readonly principal: string;
  /** Full method path, "/auth.v1.AuthService/GetUser". */
  readonly path: string;
}

/**
 * A limiter's answer: `allow`; `reject` when over the limit, `retryAfterMs` until a call may
 * pass (ms); `unavailable` when its store failed and it fails closed.
 */
export type LimitDecision = { readonly kind: 'allow' } | { readonly kind: 'reject'; readonly retryAfterMs: number } | { readonly kind: 'unavailable' };

/** The `allow` decision (one shared object: answering costs no allocation). */
export const LIMIT_ALLOW: LimitDecision = Object.freeze({ kind: 'allow' });
/** The `unavailable` decision. */
export const LIMIT_UNAVAILABLE: LimitDecision = Object.freeze({ kind: 'unavailable' });

/**
 * Decides whether a call may pass (go-grpc-middleware ratelimit's `Limiter`). A store failure
 * is a decision (`allow` failing open, `unavailable` failing closed), never a throw.
 */
export interface Limiter {
  /** Counts the call; a limiter that can answer at once may return the decision itself instead of a promise. */
  limit(call: LimitedCall): LimitDecision | Promise<LimitDecision>;
  /** Releases the store (a Redis client); idempotent. */
  close?(): Promise<void>;
}

/** Options of {@link rateLimitInterceptor}. */
export interface RateLimitInterceptorOptions {
  /** Decides every call that is not exempt. */
  limiter: Limiter;
  /** Methods never limited (default: grpc.health.v1.Health, so probes never fail for load). */
  exempt?: readonly string[];
  /** Where a limiter that throws or rejects is reported (a bug: the call ends INTERNAL "internal error"). */
  report?: (error: unknown, path: string) => void;
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
 * Server interceptor asking the limiter once per call, on its metadata (a stream costs one point), after auth:
 * RESOURCE_EXHAUSTED "rate limit exceeded" with RetryInfo and `grpc-retry-pushback-ms` (whole ms); UNAVAILABLE "rate
 * limiter unavailable"; INTERNAL, reported, when the limiter throws (docs/interceptors.md "Rate limits").
 */
export function rateLimitInterceptor(options: RateLimitInterceptorOptions): grpc.ServerInterceptor {
  const { limiter } = options;
  const exempt = options.exempt ?? RATE_LIMIT_EXEMPT_METHODS;
  const report = options.report ?? ((error: unknown, path: string) => console.error(`rate limiter of ${path} failed`, error));
  return (method, call) => {
    if (exempt.some((p) => matchesMethodPattern(method.path, p))) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    let ended = false;
    const end = (st: InterceptorStatus) => {
      ended = true;
      recordStatus(ctx, st);
      call.sendStatus(st);
    };
    const fail = (error: unknown) => {
      if (ended) return;
      const st = toStatus(error, (e) => report(e, method.path));
      end({ ...st, metadata: st.metadata ?? new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const apply = (decision: LimitDecision) => {
              if (ended) return;
              if (decision.kind === 'allow') return runInCallContext(ctx, () => nextMetadata(metadata));
              if (decision.kind === 'unavailable') return end(richStatus(grpc.status.UNAVAILABLE, RATE_LIMITER_UNAVAILABLE_MESSAGE));
              const waitMs = Math.max(0, Math.ceil(decision.retryAfterMs));
              const trailers = new grpc.Metadata();
              trailers.set(RETRY_PUSHBACK_KEY, String(waitMs));
              end(richStatus(grpc.status.RESOURCE_EXHAUSTED, RATE_LIMITED_MESSAGE, [{ type: 'RetryInfo', retryDelayMs: waitMs }], trailers));
            };
            let decision: LimitDecision | Promise<LimitDecision>;
            try {
              // The user is in the call context when auth ran before (the documented chain order).
              decision = limiter.limit({ principal: rateLimitPrincipal(ctx.user, call.getPeer()), path: method.path });
            } catch (error) {
              return fail(error);
            }
            // A synchronous answer is applied at once (rate-limiter-flexible's limiters answer with a promise).
            if (isPromiseLike(decision)) decision.then(apply, fail);
            else apply(decision);
          },
          onCancel: () => {
            ended = true;
          },
        }),
    });
  };
}

function isPromiseLike(value: LimitDecision | Promise<LimitDecision>): value is Promise<LimitDecision> {
  return typeof (value as Partial<Promise<LimitDecision>>).then === 'function';
}
