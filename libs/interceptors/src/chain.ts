/**
 * The interceptor chains, written once. grpc-js runs server interceptors in array order, first
 * = outermost (the first sees the call first and its status last), like connect-es' "layered
 * onion" and go-grpc-middleware's ChainUnaryServer. Why each sits where it does:
 *
 *  1. recovery       outermost, so a throw anywhere below (handler or interceptor) becomes
 *                    INTERNAL "internal error" and is logged, never leaked;
 *  2. tracing        the server span covers everything after it, continuing the caller's trace
 *                    (traceparent), and puts the trace id in the call context for logs;
 *  3. metrics        counts every call, including those auth, limits or validation reject;
 *  4. logging        one line per call, including rejections; reads request id, trace id and
 *                    user from the call context when the call ends, so it sits outside them;
 *  5. request id     before anything that may reject, so every error carries an x-request-id;
 *  6. deadline       caps the call before any work is done (key fetches included);
 *  7. auth           who is calling (Bearer JWT, verified locally against auth's JWKS); a peer
 *                    address whose tokens failed AUTH_FAILURES_PER_PEER times in
 *                    AUTH_FAILURE_WINDOW_S is refused here with RESOURCE_EXHAUSTED before the
 *                    signature check (auth-failure-budget.ts): the per-user limit (9) cannot
 *                    count calls that have no user yet, and a forged token must not cost a check;
 *  8. authz          may they call this method (gRFC A43-shaped policy over token roles);
 *  9. rate limit     after auth so the bucket is per user, before validation so floods of bad
 *                    requests are limited too; one Limiter, in memory, or in Redis shared by
 *                    the replicas (rate-limit-store.ts). Over the limit RESOURCE_EXHAUSTED,
 *                    store down: fail open, or closed with UNAVAILABLE;
 *  9b. decode limit  a message a method's decode limit refused (grpc-kit withDecodeLimit: over
 *                    its bytes, or a field-count precheck) ends the call here, after auth and
 *                    the limiter and before validation reads messages;
 * 10. validation     innermost: only well-formed requests reach the handler.
 *
 * Client side: propagation (deadline, request id, trace context, cancellation from the call
 * being handled) then metrics, so the metrics see the call as it leaves.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@grpc-patterns/observability';
import type { Registry } from 'prom-client';
import { authInterceptor, createTokenVerifier, type KeySource } from './auth.js';
import { peerFailureBudget, type PeerFailureBudgetOptions } from './auth-failure-budget.js';
import { authzInterceptor, type AuthorizationPolicy } from './authz.js';
import { clientMetricsInterceptor } from './client-metrics.js';
import { clientPropagationInterceptor } from './client-propagation.js';
import { deadlineInterceptor, type DeadlineOptions } from './deadline.js';
import { loggingInterceptor } from './logging.js';
import { rateLimitInterceptor, type Limiter } from './rate-limit.js';
import { rateLimiterFromConfig } from './rate-limit-store.js';
import { recoveryInterceptor } from './recovery.js';
import { requestIdInterceptor } from './request-id.js';
import { serverMetricsInterceptor } from './server-metrics.js';
import { tracingInterceptor } from './tracing.js';
import { validationInterceptor, ValidationRegistry } from './validation.js';
import { decodeLimitInterceptor } from '@grpc-patterns/grpc-kit';
import { servicePathPatterns } from '@grpc-patterns/manifest';

/**
 * The policy every service runs unless it passes its own (gRFC A43 shape): any authenticated
 * user with role "user" or "admin" may call any method of the manifest's services; nothing else
 * (public methods — Login, Register, health, reflection — bypass the policy).
 */
export const DEFAULT_POLICY: AuthorizationPolicy = {
  name: 'grpc-patterns',
  deny_rules: [],
  allow_rules: [
    {
      name: 'users-call-services',
      source: { roles: ['user', 'admin'] },
      request: {
        paths: servicePathPatterns(),
      },
    },
  ],
};

/** Options of {@link serverInterceptorChain}. */
export interface ServerChainOptions {
  logger: Logger;
  /** The process registry (createMetricsRegistry()). */
  registry: Registry;
  /** Where access-token keys come from: grpcKeySource({ target: AUTH_TARGET }), or staticKeySource in auth itself. */
  keySource: KeySource;
  /** Default {@link DEFAULT_POLICY}. */
  policy?: AuthorizationPolicy;
  /**
   * Decides the rate limit of every call; default the in-memory token bucket of the defaults
   * (100 calls/s plus a burst of 200 per principal and method). `rateLimiterFromConfig()`
   * builds one from the variables (memory or Redis, failing open or closed); the caller
   * closes a limiter it passes (serve() closes the one it builds).
   */
  limiter?: Limiter;
  /** Request rules per method; default none. */
  validation?: ValidationRegistry;
  /** Default: unary 10 s / max 30 s, streams 1 h. */
  deadlines?: DeadlineOptions;
  /** Failed token checks per peer address before the auth step refuses it; default 100 per 60 s. */
  authFailureBudget?: PeerFailureBudgetOptions;
}

/** One layer of {@link serverInterceptorLayers}: its name (as the bench's chain table reads) and interceptor. */
export interface NamedServerInterceptor {
  name: string;
  interceptor: grpc.ServerInterceptor;
}

/** The server chain in the order documented above (first = outermost). */
export function serverInterceptorChain(options: ServerChainOptions): grpc.ServerInterceptor[] {
  return serverInterceptorLayers(options).map((layer) => layer.interceptor);
}

/**
 * {@link serverInterceptorChain} with a name per layer, same order: recovery, tracing, metrics,
 * logging, request id, deadline, auth, authz, rate limit, decode limit, validation. The bench
 * serves each prefix of it to publish what each layer costs per call.
 */
export function serverInterceptorLayers(options: ServerChainOptions): NamedServerInterceptor[] {
  const { logger } = options;
  const report = (error: unknown) => logger.error({ err: error }, 'unexpected error in interceptor');
  const names = ['recovery', 'tracing', 'metrics', 'logging', 'request id', 'deadline', 'auth', 'authz', 'rate limit', 'decode limit', 'validation'];
  const interceptors: grpc.ServerInterceptor[] = [
    recoveryInterceptor({ logger }),
    tracingInterceptor(),
    serverMetricsInterceptor({ registry: options.registry }),
    loggingInterceptor({ logger }),
    requestIdInterceptor(),
    deadlineInterceptor(options.deadlines),
    authInterceptor({ verifier: createTokenVerifier({ keySource: options.keySource }), report, failureBudget: peerFailureBudget(options.authFailureBudget) }),
    authzInterceptor({
      policy: options.policy ?? DEFAULT_POLICY,
      onDenied: (decision, path, user) => logger.warn({ decision, path, user: user?.id }, 'permission denied'),
    }),
    rateLimitInterceptor({ limiter: options.limiter ?? rateLimiterFromConfig({}, logger), report }),
    decodeLimitInterceptor(),
    validationInterceptor(options.validation ?? new ValidationRegistry(), { report }),
  ];
  return interceptors.map((interceptor, i) => ({ name: names[i], interceptor }));
}

/** The client chain: propagation, then metrics (first = outermost). */
export function clientInterceptorChain(options: { registry: Registry }): grpc.Interceptor[] {
  return [clientPropagationInterceptor(), clientMetricsInterceptor({ registry: options.registry })];
}
