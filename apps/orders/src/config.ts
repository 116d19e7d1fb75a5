/**
 * The orders service's environment (names shared by local runs, docker-compose and Kubernetes;
 * see docs/architecture.md). Exported so tests and tools read the same defaults main() does.
 */
import { discoveryEnv, path, rateLimitEnv, serviceEnv, target, z } from '@grpc-patterns/config';

/** Upper bound of IDEMPOTENCY_KEY_TTL_MS: 30 days, ms. */
export const MAX_IDEMPOTENCY_KEY_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Whether `value` parses as a URL with scheme postgres: or postgresql: and a host. */
function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** zod shape of the orders environment, for `loadConfigOrExit('orders', ordersConfigShape)`. */
export const ordersConfigShape = {
  ...serviceEnv({ grpc: 50055, metrics: 9105 }),
  /** DISCOVERY, CONSUL_HTTP_ADDR, ETCD_ENDPOINTS, SERVICE_VERSION, DISCOVERY_ADVERTISE_HOST (docs/discovery.md). */
  /** REDIS_URL (shared rate limits across replicas) and RATE_LIMIT_FAIL=open|closed. */
  ...rateLimitEnv(),
  ...discoveryEnv(),
  /** PGlite data directory (embedded PostgreSQL); created if missing. Unused with DATABASE_URL. */
  DATA_DIR: path('.data/orders'),
  /**
   * PostgreSQL server (`postgres://user[:password]@host[:port]/database[?options]`, or
   * `postgresql://`). Optional: set, orders keeps its data there (replicas share it); unset,
   * in PGlite under DATA_DIR.
   */
  DATABASE_URL: z
    .string()
    .trim()
    .refine(isPostgresUrl, { message: 'must be a postgres:// URL such as postgres://user@127.0.0.1:5432/orders' })
    .optional(),
  /** gRPC target URI of auth.v1.AuthService, asked whether a user exists before an order is placed. */
  AUTH_TARGET: target('ipv4:127.0.0.1:50051'),
  /**
   * How long an idempotency key is kept, ms (1 ms..30 days). Optional: unset means forever.
   * Stored with each order (`idempotency_key_expire_time`) now; a later change enforces it.
   * (The shared `milliseconds()` helper always has a default, so it cannot say "unset".)
   */
  IDEMPOTENCY_KEY_TTL_MS: z
    .string()
    .trim()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(1, { message: 'must be at least 1' }).max(MAX_IDEMPOTENCY_KEY_TTL_MS, { message: `must be at most ${MAX_IDEMPOTENCY_KEY_TTL_MS}` }))
    .optional(),
};

/** The parsed configuration. */
export type OrdersConfig = z.infer<z.ZodObject<typeof ordersConfigShape>>;
