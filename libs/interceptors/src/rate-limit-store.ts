/**
 * Where the rate limit lives, chosen by configuration: in this process (rate-limiter-flexible's
 * RateLimiterMemory, the default) or in Redis (RateLimiterRedis on an ioredis client), so that
 * every replica consumes from the same budget and a limit of N/s holds for the service, not
 * N/s per replica.
 *
 * Both stores give the same shape: a token bucket per key, i.e. a steady limiter (`RATE_LIMIT_RPS`
 * points per 1 s, default 100) plus a burst limiter consulted when the steady one is empty
 * (`RATE_LIMIT_BURST` points per 10 s, default 200), combined with rate-limiter-flexible's
 * BurstyRateLimiter.
 *
 * Redis down (connection refused, lost, or a command slower than {@link REDIS_COMMAND_TIMEOUT_MS}):
 * - `RATE_LIMIT_FAIL=open` (default): calls are let through unlimited;
 * - `RATE_LIMIT_FAIL=closed`: calls end with UNAVAILABLE "rate limiter unavailable" before the
 *   handler runs (UNAVAILABLE: the condition is transient and the call safe to retry).
 * The rate-limit interceptor itself applies the mode ({@link rateLimitInterceptorFor}); this
 * file only builds the limiter and tracks outages.
 * Either way one line is logged at error when an outage starts and one at info when Redis
 * answers again, not one per call. The ioredis client reconnects on its own (its default
 * backoff, at most 2 s apart), so the service recovers without a restart.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@grpc-patterns/observability';
import { Redis, type RedisOptions } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimitInterceptor, type ConsumingLimiter, type RateLimitFailMode } from './rate-limit.js';

export type { RateLimitFailMode } from './rate-limit.js';

/** The variables {@link rateLimiterFromConfig} reads (`rateLimitEnv()` of @grpc-patterns/config). */
export interface RateLimitStoreConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://`; unset: the limit is kept in memory. */
  REDIS_URL?: string | undefined;
  /** Default `open`. */
  RATE_LIMIT_FAIL?: RateLimitFailMode | undefined;
  /** Steady calls per second per principal and method; default 100 ({@link DEFAULT_TOKEN_BUCKET}). */
  RATE_LIMIT_RPS?: number | undefined;
  /** Extra calls once the steady budget is spent, refilled over 10 s; 0 = none; default 200. */
  RATE_LIMIT_BURST?: number | undefined;
}

/** A token bucket as rate-limiter-flexible limiters: `points` per `duration` s, plus `burstPoints` per `burstDuration` s. */
export interface TokenBucketShape {
  /** Steady calls per `duration`. */
  points: number;
  /** Steady window, whole seconds. */
  duration: number;
  /** Extra calls allowed when the steady budget is spent; 0 = no burst (a plain fixed window). */
  burstPoints: number;
  /** Window of the burst budget, whole seconds. */
  burstDuration: number;
}

/** The default limit per principal and method: 100 calls/s plus a burst of 200 per 10 s. */
export const DEFAULT_TOKEN_BUCKET: Readonly<TokenBucketShape> = Object.freeze({ points: 100, duration: 1, burstPoints: 200, burstDuration: 10 });

/**
 * The token bucket the variables ask for: `RATE_LIMIT_RPS` points per 1 s plus `RATE_LIMIT_BURST`
 * per {@link DEFAULT_TOKEN_BUCKET}'s 10 s burst window; an unset variable keeps its default.
 */
export function tokenBucketFromConfig(config: Pick<RateLimitStoreConfig, 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST'>): TokenBucketShape {
  return {
    ...DEFAULT_TOKEN_BUCKET,
    points: config.RATE_LIMIT_RPS ?? DEFAULT_TOKEN_BUCKET.points,
    burstPoints: config.RATE_LIMIT_BURST ?? DEFAULT_TOKEN_BUCKET.burstPoints,
  };
}

/** Default Redis key prefix; keys are `<prefix>:steady:<principal>|<method path>` (and `:burst:`). */
export const DEFAULT_REDIS_KEY_PREFIX = 'grpc-rl';
/** A Redis command slower than this (ms) counts as a store failure instead of holding the call. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/**
 * The token bucket over a store: `redis` undefined keeps it in this process (key prefixes
 * `grpc-steady` / `grpc-burst`, as before), else in Redis under `<keyPrefix>:steady` and
 * `<keyPrefix>:burst`. `rejectIfRedisNotReady` makes a disconnected client fail at once.
 */
export function tokenBucketLimiter(shape: TokenBucketShape = DEFAULT_TOKEN_BUCKET, redis?: Redis, keyPrefix = DEFAULT_REDIS_KEY_PREFIX): ConsumingLimiter {
  const make = (prefix: string, points: number, duration: number) =>
    redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${keyPrefix}:${prefix}`, points, duration, rejectIfRedisNotReady: true })
      : new RateLimiterMemory({ keyPrefix: `grpc-${prefix}`, points, duration });
  const steady = make('steady', shape.points, shape.duration);
  return shape.burstPoints > 0 ? new BurstyRateLimiter(steady, make('burst', shape.burstPoints, shape.burstDuration)) : steady;
}

/** Options of {@link rateLimiterFromConfig} beyond the environment (tests, tuning). */
export interface RateLimiterFromConfigOptions {
  /** Overrides the variables' shape ({@link tokenBucketFromConfig}); tests use windows other than 1 s / 10 s. */
  shape?: TokenBucketShape;
  /** Redis key prefix; default {@link DEFAULT_REDIS_KEY_PREFIX}. Replicas sharing a limit use the same one. */
  keyPrefix?: string;
  /** Extra ioredis options (merged over the ones set here). */
  redisOptions?: RedisOptions;
}

/** A configured limiter and what the chain needs to run it; {@link close} it on shutdown. */
export interface RateLimiterSetup {
  /** Where the buckets are. */
  readonly store: 'memory' | 'redis';
  /** What happens to calls while the store is down (always `open` for memory, which cannot fail). */
  readonly failMode: RateLimitFailMode;
  /** The token bucket, wrapped to track outages. */
  readonly limiter: ConsumingLimiter;
  /** The ioredis client (undefined for memory). */
  readonly redis?: Redis;
  /** Whether an outage is in progress (the last store operation failed). */
  storeDown(): boolean;
  /** For rateLimitInterceptor's onStoreError: notes the failure (logged once per outage). */
  onStoreError(error: unknown): void;
  /**
   * Resolves true once the client is connected, false on its first connection error or after
   * `timeoutMs`; memory: true at once. serve() awaits it so the first calls do not fail open
   * just because the connection was still being set up.
   */
  ready(timeoutMs?: number): Promise<boolean>;
  /** Closes the Redis client (QUIT, or a disconnect when it is not connected). Idempotent. */
  close(): Promise<void>;
}

/** `url` without its password, for logs. */
function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/**
 * Builds the limiter the environment asks for: a token bucket of `RATE_LIMIT_RPS` calls/s plus a
 * burst of `RATE_LIMIT_BURST` (defaults 100 and 200). No `REDIS_URL`: in memory (per process, as
 * `defaultRateLimiter()`). With it: the same shape in Redis, on an ioredis
 * client with `enableOfflineQueue: false` (rate-limiter-flexible's advice: a command sent while
 * disconnected fails at once instead of waiting in a queue), `maxRetriesPerRequest: 0` (a
 * command cut by a lost connection fails at once) and a {@link REDIS_COMMAND_TIMEOUT_MS} command
 * timeout. The client connects in the background; see {@link RateLimiterSetup.ready}.
 *
 * @param logger receives the outage lines: error when the store fails (once per outage), info
 *   when it answers again; the URL is logged with its password masked.
 */
export function rateLimiterFromConfig(config: RateLimitStoreConfig, logger: Logger, options: RateLimiterFromConfigOptions = {}): RateLimiterSetup {
  const shape = options.shape ?? tokenBucketFromConfig(config);
  if (!config.REDIS_URL) {
    const limiter = tokenBucketLimiter(shape);
    return {
      store: 'memory',
      failMode: 'open',
      limiter,
      storeDown: () => false,
      onStoreError: (error) => logger.error({ err: error }, 'rate limiter store failed: call let through (fail open)'),
      ready: async () => true,
      close: async () => undefined,
    };
  }
  const failMode = config.RATE_LIMIT_FAIL ?? 'open';
  const url = maskUrl(config.REDIS_URL);
  const redis = new Redis(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // A closed limiter has nothing to flush: do not keep a dead socket's 2 s destroy timer.
    disconnectTimeout: 200,
    connectionName: 'grpc-patterns-rate-limit',
    ...options.redisOptions,
  });
  let down = false;
  let closed = false;
  const noteFailure = (error: unknown) => {
    if (down || closed) return;
    down = true;
    const effect = failMode === 'open' ? 'calls let through (fail open)' : 'calls rejected with UNAVAILABLE (fail closed)';
    logger.error({ err: error, redis: url, failMode }, `rate limiter store unavailable: ${effect}`);
  };
  const noteRecovery = () => {
    if (!down || closed) return;
    down = false;
    logger.info({ redis: url }, 'rate limiter store available again');
  };
  // Without an 'error' listener ioredis prints every failed reconnect to the console.
  redis.on('error', noteFailure);
  redis.on('ready', noteRecovery);
  const bucket = tokenBucketLimiter(shape, redis, options.keyPrefix);
  const limiter: ConsumingLimiter = {
    consume: (key, points, consumeOptions) =>
      bucket.consume(key, points, consumeOptions).then(
        (res) => {
          noteRecovery();
          return res;
        },
        (rejection: unknown) => {
          // Over the limit is an answer from Redis; anything else is the store failing.
          if (rejection instanceof RateLimiterRes) noteRecovery();
          else noteFailure(rejection);
          throw rejection;
        },
      ),
  };
  return {
    store: 'redis',
    failMode,
    limiter,
    redis,
    storeDown: () => down,
    onStoreError: noteFailure,
    ready(timeoutMs = 2_000) {
      if (redis.status === 'ready') return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (value: boolean) => {
          clearTimeout(timer);
          redis.off('ready', onReady);
          redis.off('error', onError);
          resolve(value);
        };
        const onReady = () => done(true);
        const onError = () => done(false);
        const timer = setTimeout(() => done(false), timeoutMs);
        timer.unref();
        redis.once('ready', onReady);
        redis.once('error', onError);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

/**
 * The rate-limit interceptor for a setup: {@link rateLimitInterceptor} on its limiter, with its
 * fail mode (store down: `open` lets calls through, `closed` ends them with UNAVAILABLE
 * "rate limiter unavailable") and its once-per-outage logging.
 */
export function rateLimitInterceptorFor(setup: RateLimiterSetup): grpc.ServerInterceptor {
  return rateLimitInterceptor({ limiter: setup.limiter, failMode: setup.failMode, onStoreError: (error) => setup.onStoreError(error) });
}
