/**
 * The {@link Limiter} configuration asks for: a token bucket per (principal, method), kept in
 * this process (the default) or in Redis (rate-limiter-flexible's RateLimiterRedis on an
 * ioredis client), so that every replica consumes from the same budget and a limit of N/s
 * holds for the service, not N/s per replica.
 *
 * Both stores give the same shape: a steady fixed window (`RATE_LIMIT_RPS` points per 1 s,
 * default 100) plus a burst window consulted when the steady one is empty (`RATE_LIMIT_BURST`
 * points per 10 s, default 200): rate-limiter-flexible's BurstyRateLimiter over two
 * RateLimiterRedis, or two RateLimiterMemory.
 *
 * Redis down (connection refused, lost, or a command slower than {@link REDIS_COMMAND_TIMEOUT_MS}):
 * - `RATE_LIMIT_FAIL=open` (default): the limiter allows the call (unlimited);
 * - `RATE_LIMIT_FAIL=closed`: it answers `unavailable`, and the interceptor ends the call with
 *   UNAVAILABLE "rate limiter unavailable" before the handler runs.
 * Either way one line is logged at error when an outage starts and one at info when Redis
 * answers again, not one per call. The ioredis client reconnects on its own (its default
 * backoff, at most 2 s apart), so the service recovers without a restart.
 */
import type { Logger } from '@grpc-patterns/observability';
import { Redis, type RedisOptions } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { LIMIT_ALLOW, LIMIT_UNAVAILABLE, type LimitDecision, type Limiter, type RateLimitFailMode } from './rate-limit.js';

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

/** A token bucket as two fixed windows: `points` per `duration` s, plus `burstPoints` per `burstDuration` s. */
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

/** Default Redis key prefix; keys are `<prefix>:steady:<principal>|<method path>` (and `:burst:`). */
export const DEFAULT_REDIS_KEY_PREFIX = 'grpc-rl';
/** A Redis command slower than this (ms) counts as a store failure instead of holding the call. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** Options of {@link rateLimiterFromConfig} beyond the environment (tests, tuning). */
export interface RateLimiterFromConfigOptions {
  /** Overrides the variables' shape; tests use windows other than 1 s / 10 s. */
  shape?: TokenBucketShape;
  /** Redis key prefix; default {@link DEFAULT_REDIS_KEY_PREFIX}. Replicas sharing a limit use the same one. */
  keyPrefix?: string;
  /** Extra ioredis options (merged over the ones set here). */
  redisOptions?: RedisOptions;
}

/** The limiter configuration built, and what serve() and tests read of it; {@link close} it on shutdown. */
export interface ConfiguredLimiter extends Limiter {
  /** Where the buckets are. */
  readonly store: 'memory' | 'redis';
  /** What the limiter answers while the store is down (always `open` for memory, which cannot fail). */
  readonly failMode: RateLimitFailMode;
  /** The token bucket's windows. */
  readonly shape: TokenBucketShape;
  /** The ioredis client (undefined for memory). */
  readonly redis?: Redis;
  /** Whether an outage is in progress (the last store operation failed). */
  storeDown(): boolean;
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
 * The limiter the config asks for: a token bucket of `RATE_LIMIT_RPS` calls/s plus `RATE_LIMIT_BURST`, in memory, or in
 * Redis with `REDIS_URL` (connecting in the background: {@link ConfiguredLimiter.ready}), answering per `RATE_LIMIT_FAIL`
 * while it is down; `logger` gets the outage lines, URL password masked (docs/interceptors.md "Rate limits").
 */
export function rateLimiterFromConfig(config: RateLimitStoreConfig, logger: Logger, options: RateLimiterFromConfigOptions = {}): ConfiguredLimiter {
  const shape = options.shape ?? {
    ...DEFAULT_TOKEN_BUCKET,
    points: config.RATE_LIMIT_RPS ?? DEFAULT_TOKEN_BUCKET.points,
    burstPoints: config.RATE_LIMIT_BURST ?? DEFAULT_TOKEN_BUCKET.burstPoints,
  };
  if (!config.REDIS_URL) {
    const memory = (name: string, points: number, duration: number) => new RateLimiterMemory({ keyPrefix: name, points, duration });
    const bucket = tokenBucket(shape, memory);
    return {
      store: 'memory',
      failMode: 'open',
      shape,
      // rate-limiter-flexible answers with a promise even in memory (its API); a store error cannot happen here.
      limit: ({ principal, path }) => bucket.consume(`${principal}|${path}`, 1).then(() => LIMIT_ALLOW, rejected),
      storeDown: () => false,
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
  const keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  // `rejectIfRedisNotReady` makes a disconnected client fail at once.
  const window = (name: string, points: number, duration: number) => new RateLimiterRedis({ storeClient: redis, keyPrefix: `${keyPrefix}:${name}`, points, duration, rejectIfRedisNotReady: true });
  const bucket = tokenBucket(shape, window);
  return {
    store: 'redis',
    failMode,
    shape,
    redis,
    limit: ({ principal, path }) =>
      bucket.consume(`${principal}|${path}`, 1).then(
        (): LimitDecision => {
          noteRecovery();
          return LIMIT_ALLOW;
        },
        (rejection: unknown): LimitDecision => {
          // Over the limit is an answer from Redis; anything else is the store failing.
          if (rejection instanceof RateLimiterRes) {
            noteRecovery();
            return { kind: 'reject', retryAfterMs: rejection.msBeforeNext };
          }
          noteFailure(rejection);
          return failMode === 'open' ? LIMIT_ALLOW : LIMIT_UNAVAILABLE;
        },
      ),
    storeDown: () => down,
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

/** rate-limiter-flexible has no token-bucket class: its documented way is BurstyRateLimiter, a steady window plus a burst window. */
function tokenBucket(shape: TokenBucketShape, window: (name: string, points: number, duration: number) => RateLimiterAbstract): Pick<RateLimiterAbstract, 'consume'> {
  const steady = window('steady', shape.points, shape.duration);
  return shape.burstPoints > 0 ? new BurstyRateLimiter(steady, window('burst', shape.burstPoints, shape.burstDuration)) : steady;
}

/** A consume() rejection over the limit as a decision; anything else is a store failure (rethrown). */
function rejected(rejection: unknown): LimitDecision {
  if (rejection instanceof RateLimiterRes) return { kind: 'reject', retryAfterMs: rejection.msBeforeNext };
  throw rejection;
}
