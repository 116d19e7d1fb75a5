/**
 * The auth service's environment, as a zod shape for `loadConfigOrExit` / `parseConfig`
 * (exported so tests and tools read the same names and defaults).
 */
import { path, seconds, discoveryEnv, rateLimitEnv, serviceEnv, z } from '@grpc-patterns/config';

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
  ...serviceEnv({ grpc: 50051, metrics: 9101 }),
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
};

/** The parsed configuration. */
export type AuthConfig = z.infer<z.ZodObject<typeof authConfigShape>>;
