/**
 * orders.v1.OrderService: idempotent unary RPCs. PlaceOrder creates an order exactly once per
 * idempotency key (user_id, request_id), however often and however concurrently the client
 * retries; GetOrder and ListOrders read.
 *
 * Every call needs an authenticated caller (the auth interceptor puts it into the call context;
 * without one the handlers answer UNAUTHENTICATED: fail closed), and each caller sees only its
 * own orders (access.ts).
 *
 * PlaceOrder, step by step:
 * 1. validate (validation.ts: INVALID_ARGUMENT naming the field; the validation interceptor
 *    runs the same rules first), normalize, fingerprint the request;
 * 2. the order must be for the caller itself, unless the caller is an admin (PERMISSION_DENIED);
 * 3. key already used? same fingerprint: replay the stored order with the response header
 *    `idempotent-replayed: true` (no auth call: the user was checked when it was placed);
 *    different fingerprint: FAILED_PRECONDITION;
 * 4. ask auth whether the user exists, under the caller's deadline and with the caller's token;
 * 5. insert atomically (INSERT ... ON CONFLICT DO NOTHING); a concurrent duplicate that lost
 *    the race gets the winner's order back, as a replay.
 * The pattern is Stripe's Idempotency-Key (stripe.com/docs/api/idempotent_requests) and the
 * IETF draft-ietf-httpapi-idempotency-key-header, moved to gRPC metadata and a request field.
 */
import { GrpcError, unary, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { ordersV1 } from '@grpc-patterns/proto';
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { mayPlaceOrderFor, mayReadOrdersOf, requireCaller } from './access.js';
import { migrate } from './migrations.js';
import { SqlOrderStore, type OrderStore, type StoredOrder } from './order-store.js';
import { encodePageToken } from './page-token.js';
import { normalizePlaceOrder, type ValidPlaceOrder } from './place-order-request.js';
import { openPgDatabase, openPgliteDatabase } from './sql-database.js';
import { authUserCheck, type UserCheck } from './user-check.js';
import { checkGetOrder, checkListOrders, checkPlaceOrder, valueOrThrow } from './validation.js';

/** Response header (initial metadata) set on a PlaceOrder answered from a stored order. */
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';

/** What {@link createOrdersService} needs. */
export interface OrdersServiceOptions {
  /** PGlite data directory; created if missing; migrated on open. Unused with `databaseUrl`. */
  dataDir: string;
  /** PostgreSQL server URL: when given, the store lives there (shared by replicas) instead of PGlite. */
  databaseUrl?: string;
  /** gRPC target URI of auth.v1.AuthService. */
  authTarget: string;
  logger: Logger;
  /** Recorded with each order as its key's expiry, ms; undefined: keys never expire. */
  idempotencyKeyTtlMs?: number;
  /** The clock (create_time); tests pass a fixed one. Default: `() => new Date()`. */
  now?: () => Date;
  /**
   * Client interceptors of the auth client (main.ts: clientInterceptorChain(), which carries
   * the caller's deadline, request id and trace to auth), first = outermost.
   */
  clientInterceptors?: grpc.Interceptor[];
}

/** A built service: register it with startServer() and close it after the server stopped. */
export interface OrdersService {
  registration: ServiceRegistration;
  store: OrderStore;
  /** Closes the store (PGlite flushes and releases the data directory). */
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
  const implementation = orderServiceImplementation({
    store,
    userCheck: authUserCheck(options.authTarget, { interceptors: options.clientInterceptors }),
    logger: options.logger,
    now: options.now ?? (() => new Date()),
    idempotencyKeyTtlMs: options.idempotencyKeyTtlMs,
  });
  return {
    registration: { name: 'orders.v1.OrderService', definition: ordersV1.OrderServiceService, implementation },
    store,
    close: () => store.close(),
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

/** Dependencies of {@link orderServiceImplementation}. */
export interface OrderServiceDependencies {
  store: OrderStore;
  userCheck: UserCheck;
  logger: Logger;
  now: () => Date;
  idempotencyKeyTtlMs?: number;
}

/**
 * The handlers. Status codes:
 * - all three: UNAUTHENTICATED `authentication required` when the call context has no user
 *   (a server without the auth interceptor); INVALID_ARGUMENT (bad field, named, with a
 *   google.rpc.BadRequest; rules in validation.ts).
 * - PlaceOrder: PERMISSION_DENIED `orders can only be placed for yourself` (user_id is not the
 *   caller's, and the caller is no admin); FAILED_PRECONDITION (`request_id <key> was
 *   already used with a different request`, or `user <id> does not exist`); UNAVAILABLE /
 *   DEADLINE_EXCEEDED (auth unreachable / the caller's deadline ran out); UNAUTHENTICATED /
 *   PERMISSION_DENIED when auth rejects the relayed token (user-check.ts).
 * - GetOrder: NOT_FOUND `order <id> not found`, also for another user's order (its existence
 *   is not revealed).
 * - ListOrders: PERMISSION_DENIED `orders can only be listed for yourself`.
 */
export function orderServiceImplementation(deps: OrderServiceDependencies): ordersV1.OrderServiceServer {
  const { store, userCheck, logger, now } = deps;

  /** Answers a request whose key already holds `stored`: a replay, or a reused key. */
  function replay(call: grpc.ServerUnaryCall<unknown, unknown>, stored: StoredOrder, request: ValidPlaceOrder, source: 'key lookup' | 'insert conflict'): ordersV1.PlaceOrderResponse {
    if (stored.requestFingerprint !== request.fingerprint) {
      throw new GrpcError(grpc.status.FAILED_PRECONDITION, `request_id ${request.requestId} was already used with a different request`);
    }
    const headers = new grpc.Metadata();
    headers.set(IDEMPOTENT_REPLAYED_HEADER, 'true');
    call.sendMetadata(headers);
    // source "insert conflict": a concurrent duplicate lost the race at the unique key.
    logger.debug({ orderId: stored.id, userId: stored.userId, requestId: stored.requestId, source }, 'order replayed');
    return { order: toProtoOrder(stored) };
  }

  return {
    placeOrder: unary(async (call) => {
      const caller = requireCaller();
      const request = normalizePlaceOrder(valueOrThrow(checkPlaceOrder(call.request)));
      if (!mayPlaceOrderFor(caller, request.userId)) throw new GrpcError(grpc.status.PERMISSION_DENIED, 'orders can only be placed for yourself');
      const existing = await store.findByKey(request.userId, request.requestId);
      if (existing) return replay(call, existing, request, 'key lookup');

      await userCheck(request.userId, call);
      // Auth answered, but the caller may be gone by now: then do not create an order it will
      // never hear about (a retry with the same key would still get exactly one).
      ensureCallerWaiting(call);

      const createTime = now();
      const result = await store.insertOnce({
        ...request,
        id: randomUUID(),
        createTime,
        idempotencyKeyExpireTime: deps.idempotencyKeyTtlMs === undefined ? undefined : new Date(createTime.getTime() + deps.idempotencyKeyTtlMs),
      });
      if (!result.created) return replay(call, result.order, request, 'insert conflict');
      // placedBy differs from userId when an admin placed the order for someone else.
      logger.info({ orderId: result.order.id, userId: request.userId, placedBy: caller.id, requestId: request.requestId, totalCents: result.order.totalCents }, 'order placed');
      return { order: toProtoOrder(result.order) };
    }),

    getOrder: unary(async (call) => {
      const caller = requireCaller();
      const { orderId } = valueOrThrow(checkGetOrder(call.request));
      const order = await store.get(orderId);
      // Another user's order answers exactly like a missing one: its existence is not revealed.
      if (!order || !mayReadOrdersOf(caller, order.userId)) throw new GrpcError(grpc.status.NOT_FOUND, `order ${call.request.orderId} not found`);
      return { order: toProtoOrder(order) };
    }),

    listOrders: unary(async (call) => {
      const caller = requireCaller();
      const { userId, limit, cursor } = valueOrThrow(checkListOrders(call.request));
      if (!mayReadOrdersOf(caller, userId)) throw new GrpcError(grpc.status.PERMISSION_DENIED, 'orders can only be listed for yourself');
      // One row more than the page tells whether another page follows, without a count query.
      const rows = await store.listByUser(userId, limit + 1, cursor);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        orders: page.map(toProtoOrder),
        nextPageToken: rows.length > limit && last ? encodePageToken({ userId, createTime: last.createTime, id: last.id }) : '',
      };
    }),
  };
}

/**
 * @throws GrpcError CANCELLED when the client cancelled, DEADLINE_EXCEEDED when its deadline
 *   has passed (the client sees its own status either way; this only stops the work).
 */
function ensureCallerWaiting(call: grpc.ServerUnaryCall<unknown, unknown>): void {
  if (call.cancelled) throw new GrpcError(grpc.status.CANCELLED, 'call cancelled');
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Date.now() >= deadlineMs) throw new GrpcError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded before the order was placed');
}

function toProtoOrder(order: StoredOrder): ordersV1.Order {
  return ordersV1.Order.fromPartial({
    id: order.id,
    requestId: order.requestId,
    userId: order.userId,
    items: order.items,
    totalCents: order.totalCents,
    currency: order.currency,
    status: order.status === 'PLACED' ? ordersV1.OrderStatus.ORDER_STATUS_PLACED : ordersV1.OrderStatus.ORDER_STATUS_UNSPECIFIED,
    createTime: order.createTime,
  });
}
