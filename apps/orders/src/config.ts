/**
 * The orders service's environment (names shared by local runs, docker-compose and Kubernetes;
 * see docs/architecture.md). Exported so tests and tools read the same defaults main() does.
 */
import { discoveryEnv, milliseconds, path, rateLimitEnv, serverUrl, serviceEnv, target, wholeNumber, z } from '@grpc-patterns/config';
import { serviceManifest } from '@grpc-patterns/manifest';

/** Default of IDEMPOTENCY_KEY_TTL_MS: 24 h, ms. */
export const DEFAULT_IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** Default of IDEMPOTENCY_IN_FLIGHT_WAIT_MS: 5 s, ms. */
export const DEFAULT_IN_FLIGHT_WAIT_MS = 5_000;
/** Default of IDEMPOTENCY_PRUNE_INTERVAL_MS: 10 min, ms (the pruner also runs at start-up). */
export const DEFAULT_PRUNE_INTERVAL_MS = 10 * 60 * 1000;
/** Upper bound of IDEMPOTENCY_KEY_TTL_MS: 30 days, ms. */
export const MAX_IDEMPOTENCY_KEY_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** zod shape of the orders environment, for `loadConfigOrExit('orders', ordersConfigShape)`. */
export const ordersConfigShape = {
  ...serviceEnv(serviceManifest('orders')),
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
  DATABASE_URL: serverUrl(['postgres', 'postgresql'], 'must be a postgres:// URL such as postgres://user@127.0.0.1:5432/orders'),
  /** gRPC target URI of auth.v1.AuthService, asked whether a user exists before an order is placed. */
  AUTH_TARGET: target('ipv4:127.0.0.1:50051'),
  /**
   * How long an idempotency key is kept, ms (1 ms..30 days), counted from the call that
   * claimed it; default 24 h (Stripe's minimum). After it the key is treated as new (the same
   * request_id places a new order) and the pruner deletes it; orders are never deleted.
   */
  IDEMPOTENCY_KEY_TTL_MS: wholeNumber(1, MAX_IDEMPOTENCY_KEY_TTL_MS).prefault(String(DEFAULT_IDEMPOTENCY_KEY_TTL_MS)),
  /**
   * Longest wait of a PlaceOrder for a duplicate of its key still in flight on another
   * connection or replica, ms (also bounded by the caller's deadline); default 5 000. Still in
   * flight after it: ABORTED with a google.rpc.RetryInfo (the CLI's retry policy retries it).
   */
  IDEMPOTENCY_IN_FLIGHT_WAIT_MS: milliseconds(DEFAULT_IN_FLIGHT_WAIT_MS),
  /** Interval of the expired-key pruner, ms; default 10 min; 0: prune only at start-up. */
  IDEMPOTENCY_PRUNE_INTERVAL_MS: milliseconds(DEFAULT_PRUNE_INTERVAL_MS),
};

/** The parsed configuration. */
export type OrdersConfig = z.infer<z.ZodObject<typeof ordersConfigShape>>;
