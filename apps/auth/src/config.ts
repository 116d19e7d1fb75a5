/**
 * The auth service's environment, as a zod shape for `parseConfig` (runService exits 78 on a bad variable)
 * (exported so tests and tools read the same names and defaults).
 */
import { ConfigError, parseConfig, path, seconds, discoveryEnv, rateLimitEnv, serviceEnv, wholeNumber, z, type Env } from '@grpc-patterns/config';
import { serviceManifest } from '@grpc-patterns/manifest';

/** `ADMIN_USERNAMES=alice,bob`: a comma-separated list, blanks ignored; default empty. */
const usernameList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  )
  .prefault('');

/** Environment variables of the auth service; see apps/auth/README.md for the table. */
export const authConfigShape = {
  ...serviceEnv(serviceManifest('auth')),
  /** DISCOVERY, CONSUL_HTTP_ADDR, ETCD_ENDPOINTS, SERVICE_VERSION, DISCOVERY_ADVERTISE_HOST (docs/discovery.md). */
  ...discoveryEnv(),
  /** REDIS_URL (rate limits shared by the replicas; unset: in memory), RATE_LIMIT_FAIL=open|closed (docs/interceptors.md). */
  ...rateLimitEnv(),
  /** PGlite data directory (users and the signing key); relative paths are from the working directory. */
  DATA_DIR: path('.data/auth'),
  /** `iss` of every token, and the audience of refresh tokens. */
  JWT_ISSUER: z.string().trim().min(1).default('grpc-patterns-auth'),
  /** `aud` of access tokens: what the other services check. */
  JWT_AUDIENCE: z.string().trim().min(1).default('grpc-patterns'),
  /** Access token lifetime, s (default 15 min; at most 1 day). */
  ACCESS_TOKEN_TTL_S: seconds(900, 86_400),
  /** Refresh token lifetime, s (default 7 days; at most 1 year). */
  REFRESH_TOKEN_TTL_S: seconds(604_800, 31_536_000),
  /** Usernames that get the "admin" role (in addition to "user") when they register. */
  ADMIN_USERNAMES: usernameList,
  // Brute-force limits (login-limits.ts; README "Brute-force limits"), in Redis when REDIS_URL is set.
  /** Consecutive failed Logins of one username from one address before RESOURCE_EXHAUSTED. */
  LOGIN_FAILS_PER_USER_IP: wholeNumber(1, 10_000, 'failed logins').prefault('10'),
  /** How long a username+address stays blocked after that, s (default 1 h, at most 7 days). */
  LOGIN_BLOCK_S: seconds(3_600, 7 * 86_400),
  /** Failed Logins per address per day, any usernames; then the address is blocked for a day. */
  LOGIN_FAILS_PER_IP: wholeNumber(1, 1_000_000, 'failed logins').prefault('100'),
  /** Failed Logins per username per hour, from every address together. */
  LOGIN_FAILS_PER_USER: wholeNumber(1, 1_000_000, 'failed logins').prefault('50'),
  /** Register calls per address per hour. */
  REGISTER_PER_IP: wholeNumber(1, 1_000_000, 'registrations').prefault('50'),
  // scrypt work (hash-queue.ts): bounded so token checks always find a free libuv thread.
  /** scrypt hashes running at once (128 MiB each); must be below UV_THREADPOOL_SIZE (default 4). */
  SCRYPT_MAX_CONCURRENT: wholeNumber(1, 1_024, 'hashes').prefault('1'),
  /** scrypt hashes waiting, in all; a full queue answers RESOURCE_EXHAUSTED with RetryInfo. */
  SCRYPT_MAX_QUEUE: wholeNumber(0, 100_000, 'hashes').prefault('32'),
  /** scrypt hashes waiting or running for one peer address. */
  SCRYPT_MAX_PER_PEER: wholeNumber(1, 100_000, 'hashes').prefault('8'),
};

/** The parsed configuration. */
export type AuthConfig = z.infer<z.ZodObject<typeof authConfigShape>>;

/** libuv's default thread pool size (docs.libuv.org, "Thread pool work scheduling"). */
export const DEFAULT_UV_THREADPOOL_SIZE = 4;

/**
 * {@link authConfigShape} parsed, plus SCRYPT_MAX_CONCURRENT below UV_THREADPOOL_SIZE, so a libuv thread
 * is left for token signatures (README "Explanation: scrypt is bounded").
 * @throws ConfigError naming the variable.
 */
export function parseAuthConfig(env: Env = process.env): AuthConfig {
  const config = parseConfig(authConfigShape, env);
  const pool = Number(env['UV_THREADPOOL_SIZE'] || DEFAULT_UV_THREADPOOL_SIZE);
  if (config.SCRYPT_MAX_CONCURRENT >= pool) {
    throw new ConfigError('SCRYPT_MAX_CONCURRENT', `must be less than UV_THREADPOOL_SIZE (${pool}), so token checks always find a free thread (got "${config.SCRYPT_MAX_CONCURRENT}")`);
  }
  return config;
}

