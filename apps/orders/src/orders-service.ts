/**
 * orders.v1.OrderService assembled: the store (PGlite or PostgreSQL), the auth user check, the
 * key pruner and the handlers (order-handlers.ts, where PlaceOrder's steps are explained).
 */
import { countFields, withDecodeLimit, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { ordersV1 } from '@grpc-patterns/proto';
import { DEFAULT_IDEMPOTENCY_KEY_TTL_MS, DEFAULT_IN_FLIGHT_WAIT_MS, DEFAULT_PRUNE_INTERVAL_MS } from './config.js';
import { migrate } from './migrations.js';
import { SqlOrderStore, type OrderStore } from './order-store.js';
import { openPgDatabase, openPgliteDatabase, type SqlDatabase } from './sql-database.js';
import type * as grpc from '@grpc/grpc-js';
import { authUserCheck } from './user-check.js';
import { MAX_ITEMS, MIN_ITEMS } from './validation.js';
import { startKeyPruner } from './key-pruner.js';
import { orderServiceImplementation, type OrderServiceHooks } from './order-handlers.js';

export { IDEMPOTENT_REPLAYED_HEADER, IN_FLIGHT_RETRY_DELAY_MS, orderServiceImplementation, type OrderServiceDependencies, type OrderServiceHooks, type OrderServiceImplementation } from './order-handlers.js';

/**
 * Largest PlaceOrderRequest decoded, bytes: a valid one (100 items of 64-character SKUs, even
 * in 4-byte characters) is under 30 KiB. A bigger message is refused with RESOURCE_EXHAUSTED
 * before decoding (grpc-kit withDecodeLimit).
 */
export const PLACE_ORDER_MAX_BYTES = 64 * 1024;

/** `items` is field 3 of PlaceOrderRequest. */
const ITEMS_FIELD = 3;

/**
 * The generated OrderService, but PlaceOrder's response serializer passes the stored Buffer through, and a request
 * over {@link PLACE_ORDER_MAX_BYTES} is RESOURCE_EXHAUSTED, over MAX_ITEMS items INVALID_ARGUMENT, before decoding
 * (README "Explanation: Replay, byte for byte" and "Decode limit").
 */
export const orderServiceDefinition = withDecodeLimit(
  {
    ...ordersV1.OrderServiceService,
    placeOrder: {
      ...ordersV1.OrderServiceService.placeOrder,
      responseSerialize: (value: Buffer | ordersV1.PlaceOrderResponse): Buffer => (Buffer.isBuffer(value) ? value : ordersV1.OrderServiceService.placeOrder.responseSerialize(value)),
    },
  } as const,
  {
    placeOrder: {
      maxBytes: PLACE_ORDER_MAX_BYTES,
      precheck: (bytes) => {
        const items = countFields(bytes, ITEMS_FIELD);
        return items > MAX_ITEMS ? [{ field: 'items', description: `must have ${MIN_ITEMS} to ${MAX_ITEMS} items (got ${items})` }] : undefined;
      },
    },
  },
);


/** What {@link createOrdersService} needs. */
export interface OrdersServiceOptions {
  /** PGlite data directory; created if missing; migrated on open. Unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL server URL: when given, the store lives there (shared by replicas) instead of PGlite. */
  databaseUrl?: string;
  /** gRPC target URI of auth.v1.AuthService. */
  authTarget: string;
  logger: Logger;
  /** How long an idempotency key is kept, from its claim, ms; default 24 h. */
  idempotencyKeyTtlMs?: number;
  /** Longest wait for an in-flight duplicate of a key, ms; default 5 000 (then ABORTED). */
  inFlightWaitMs?: number;
  /** Interval of the expired-key pruner, ms; default 10 min; 0: only at start-up. */
  pruneIntervalMs?: number;
  /** The clock (create_time, key expiry, pruning); tests pass their own. Default: `() => new Date()`. */
  now?: () => Date;
  /** Test hooks (see {@link OrderServiceDependencies.hooks}). */
  hooks?: OrderServiceHooks;
  /**
   * Client interceptors of the auth client (service.ts: the runtime's clientInterceptors(), which carry
   * the caller's deadline, request id and trace to auth), first = outermost.
   */
  clientInterceptors: grpc.Interceptor[];
}

/** A built service: register it with startServer() and close it after the server stopped. */
export interface OrdersService {
  registration: ServiceRegistration;
  store: OrderStore;
  /** The database under the store (tests and operators inspect idempotency_keys with it). */
  database: SqlDatabase;
  /** Deletes expired idempotency keys now (as the periodic pruner does); resolves with the count. */
  pruneExpiredKeys(): Promise<number>;
  /** Stops the pruner and closes the store (PGlite flushes and releases the data directory). */
  close(): Promise<void>;
}

/**
 * Opens the store (PostgreSQL at `databaseUrl`, else PGlite under `dataDir`), applies
 * migrations and builds the service on it.
 */
export async function createOrdersService(options: OrdersServiceOptions): Promise<OrdersService> {
  const db = options.databaseUrl
    ? await openPgDatabase(options.databaseUrl, { onIdleError: (err) => options.logger.warn({ error: err.message }, 'idle database connection failed; the pool reconnects') })
    : await openPgliteDatabase(options.dataDir);
  const where = options.databaseUrl ? { database: redactUrl(options.databaseUrl) } : { dataDir: options.dataDir };
  try {
    const applied = await migrate(db);
    if (applied.length > 0) options.logger.info({ versions: applied, ...where }, 'schema migrated');
  } catch (error) {
    await db.close();
    throw error;
  }
  const store = new SqlOrderStore(db);
  const now = options.now ?? (() => new Date());
  const implementation = orderServiceImplementation({
    store,
    userCheck: authUserCheck(options.authTarget, { interceptors: options.clientInterceptors }),
    logger: options.logger,
    now,
    idempotencyKeyTtlMs: options.idempotencyKeyTtlMs ?? DEFAULT_IDEMPOTENCY_KEY_TTL_MS,
    inFlightWaitMs: options.inFlightWaitMs ?? DEFAULT_IN_FLIGHT_WAIT_MS,
    hooks: options.hooks,
  });
  const pruner = startKeyPruner(store, { logger: options.logger, now, intervalMs: options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS });
  await pruner.prune();
  return {
    registration: { name: 'orders.v1.OrderService', definition: orderServiceDefinition, implementation: implementation as unknown as grpc.UntypedServiceImplementation },
    store,
    database: db,
    pruneExpiredKeys: () => pruner.prune(),
    async close() {
      await pruner.stop();
      await store.close();
    },
  };
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

