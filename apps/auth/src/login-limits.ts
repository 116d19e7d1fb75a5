/**
 * Brute-force limits of Login and Register (issue 17, finding 2), the OWASP way (Authentication
 * and Credential Stuffing cheat sheets) with rate-limiter-flexible's "login endpoint
 * protection" recipe: consecutive failures per username and source address, failures per
 * address per day, and (beyond the recipe) failures per username from every address, so
 * guesses spread over many addresses are slowed too.
 *
 * Every Login attempt is counted before its scrypt work starts (the recipe counts after; with
 * eight concurrent attempts that lets eight through past the limit). A success gives its
 * points back and resets the username+address count; an attempt that never reached scrypt
 * (refused by the hash queue) gives them back too. Over a limit: RESOURCE_EXHAUSTED with
 * RetryInfo (and `grpc-retry-pushback-ms`) = the time until the block ends, before any work.
 *
 * Store: memory, or Redis (REDIS_URL, shared by the replicas) with a memory insurance limiter
 * that counts while Redis is down (rate-limiter-flexible's `insuranceLimiter`), so the limits
 * never fail open.
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { Metadata, status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** Status message of a Login refused by a failure limit. */
export const LOGIN_LIMITED_MESSAGE = 'too many failed logins; retry later';
/** Status message of a Register refused by its limit. */
export const REGISTER_LIMITED_MESSAGE = 'too many registrations from this address; retry later';

/** The variables of apps/auth/README.md, "Brute-force limits". */
export interface LoginLimitsConfig {
  /** Consecutive failures of one username from one address before it is blocked (default 10). */
  LOGIN_FAILS_PER_USER_IP: number;
  /** How long that block lasts, s (default 3600). */
  LOGIN_BLOCK_S: number;
  /** Failures per address per day, any usernames, before the address is blocked for a day (default 100). */
  LOGIN_FAILS_PER_IP: number;
  /** Failures per username per hour, from every address (default 50). */
  LOGIN_FAILS_PER_USER: number;
  /** Register calls per address per hour (default 50). */
  REGISTER_PER_IP: number;
  REDIS_URL?: string | undefined;
}

/** An admitted Login attempt: tell it how it ended. */
export interface LoginAttempt {
  /** The password was right: the points go back and the username+address count restarts. */
  succeeded(): Promise<void>;
  /** No password was checked (e.g. the hash queue was full): the points go back. */
  notTried(): Promise<void>;
}

/** See the module comment; {@link close} releases the Redis client. */
export interface LoginLimits {
  readonly store: 'memory' | 'redis';
  /**
   * Counts an attempt of `username` from `address`.
   *
   * @throws GrpcError RESOURCE_EXHAUSTED {@link LOGIN_LIMITED_MESSAGE} with RetryInfo when a limit is spent.
   */
  beginLogin(username: string, address: string): Promise<LoginAttempt>;
  /** @throws GrpcError RESOURCE_EXHAUSTED {@link REGISTER_LIMITED_MESSAGE} with RetryInfo over REGISTER_PER_IP per hour. */
  register(address: string): Promise<void>;
  /** Resolves once the Redis client is connected (true), or false after `timeoutMs`; memory: true at once. */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const DAY_S = 86_400;
const HOUR_S = 3_600;
/**
 * How long consecutive failures are remembered unless a success resets them: the recipe says
 * 90 days, but RateLimiterMemory expires keys with setTimeout, which cannot wait longer than
 * 2^31 - 1 ms (24.8 days; longer fires at once, and the count would be forgotten). 7 days.
 */
const CONSECUTIVE_WINDOW_S = 7 * DAY_S;

/** RESOURCE_EXHAUSTED with RetryInfo and `grpc-retry-pushback-ms` of `ms`. */
export function exhausted(message: string, ms: number): GrpcError {
  const waitMs = Math.max(1, Math.ceil(ms));
  const trailers = new Metadata();
  trailers.set('grpc-retry-pushback-ms', String(waitMs));
  return new GrpcError(status.RESOURCE_EXHAUSTED, message, trailers, [], [{ type: 'RetryInfo', retryDelayMs: waitMs }]);
}

/** Builds the limits in memory, or in Redis when `config.REDIS_URL` is set. */
export function createLoginLimits(config: LoginLimitsConfig, logger: Logger): LoginLimits {
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1_000, disconnectTimeout: 200, connectionName: 'grpc-patterns-auth-limits' })
    : undefined;
  let down = false;
  redis?.on('error', (error) => {
    if (down) return;
    down = true;
    logger.error({ err: error }, 'login limits store unavailable: counting in memory meanwhile');
  });
  redis?.on('ready', () => {
    if (down) logger.info('login limits store available again');
    down = false;
  });
  const make = (keyPrefix: string, points: number, duration: number, blockDuration = 0): RateLimiterAbstract => {
    const insurance = new RateLimiterMemory({ keyPrefix, points, duration, blockDuration });
    return redis ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `auth-limits:${keyPrefix}`, points, duration, blockDuration, rejectIfRedisNotReady: true, insuranceLimiter: insurance }) : insurance;
  };
  const byUserIp = make('login-user-ip', config.LOGIN_FAILS_PER_USER_IP, CONSECUTIVE_WINDOW_S, config.LOGIN_BLOCK_S);
  const byIp = make('login-ip', config.LOGIN_FAILS_PER_IP, DAY_S, DAY_S);
  const byUser = make('login-user', config.LOGIN_FAILS_PER_USER, HOUR_S);
  const registrations = make('register-ip', config.REGISTER_PER_IP, HOUR_S);

  /** consume(), with "over the limit" as a RateLimiterRes return instead of a rejection. */
  const take = (limiter: RateLimiterAbstract, key: string) =>
    limiter.consume(key, 1).then(
      () => undefined,
      (rejection: unknown) => {
        if (rejection instanceof RateLimiterRes) return rejection;
        throw rejection;
      },
    );
  const giveBack = (limiter: RateLimiterAbstract, key: string) => limiter.reward(key, 1).then(() => undefined);

  return {
    store: redis ? 'redis' : 'memory',
    async beginLogin(username, address) {
      const userIpKey = `${username}|${address}`;
      const taken: Array<[RateLimiterAbstract, string]> = [];
      for (const [limiter, key] of [
        [byUserIp, userIpKey],
        [byIp, address],
        [byUser, username],
      ] as Array<[RateLimiterAbstract, string]>) {
        const over = await take(limiter, key);
        if (over) {
          await Promise.all(taken.map(([l, k]) => giveBack(l, k)));
          logger.warn({ username, address, limit: limiter.keyPrefix }, 'login refused: failure limit reached');
          throw exhausted(LOGIN_LIMITED_MESSAGE, over.msBeforeNext);
        }
        taken.push([limiter, key]);
      }
      return {
        async succeeded() {
          await Promise.all([byUserIp.delete(userIpKey), giveBack(byIp, address), giveBack(byUser, username)]);
        },
        async notTried() {
          await Promise.all(taken.map(([l, k]) => giveBack(l, k)));
        },
      };
    },
    async register(address) {
      const over = await take(registrations, address);
      if (over) throw exhausted(REGISTER_LIMITED_MESSAGE, over.msBeforeNext);
    },
    ready(timeoutMs = 2_000) {
      if (!redis || redis.status === 'ready') return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        timer.unref();
        redis.once('ready', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    async close() {
      if (!redis) return;
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
