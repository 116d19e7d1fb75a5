/**
 * orders.v1.OrderService: idempotent unary RPCs. PlaceOrder creates an order exactly once per
 * idempotency key (principal, request_id), however often and however concurrently the client
 * retries; GetOrder and ListOrders read.
 *
 * Every call needs an authenticated caller (the auth interceptor puts it into the call context;
 * without one the handlers answer UNAUTHENTICATED: fail closed), and each caller sees only its
 * own orders (access.ts).
 *
 * PlaceOrder, step by step:
 * 1. take the request as the validation interceptor parsed it (validation.ts: INVALID_ARGUMENT
 *    naming the field, checked once, there or here without the interceptor), normalize,
 *    fingerprint it;
 * 2. the order must be for the caller itself, unless the caller is an admin (PERMISSION_DENIED);
 * 3. the key is (principal = the caller's id, request_id). Already done and unexpired? Same
 *    fingerprint: replay the stored outcome byte for byte, with the response header
 *    `idempotent-replayed: true` (no auth call); different fingerprint: FAILED_PRECONDITION;
 * 4. ask auth whether the user exists, under the caller's deadline and with the caller's token;
 * 5. in ONE transaction (order-store.ts executeOnce): claim the key, or meet it (waiting for an
 *    in-flight owner at most IDEMPOTENCY_IN_FLIGHT_WAIT_MS, then ABORTED); claimed: insert the
 *    order and store the outcome (the serialized response); met: replay as in 3.
 * Stored outcomes are the deterministic ones: OK (the order) and FAILED_PRECONDITION `user <id>
 * does not exist`. Everything else (INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED happen
 * before the key is touched; UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, RESOURCE_EXHAUSTED,
 * ABORTED, INTERNAL are transient) stores nothing, so a retry with the key runs again.
 * A key expires IDEMPOTENCY_KEY_TTL_MS after its claim (then it is new again; a pruner deletes
 * it, never the order). A replica that dies mid-call leaves nothing: see order-store.ts.
 * The pattern is Stripe's Idempotency-Key (stripe.com/docs/api/idempotent_requests) and the
 * IETF draft-ietf-httpapi-idempotency-key-header, moved to gRPC metadata and a request field.
 */
import { GrpcError, unary } from '@grpc-patterns/grpc-kit';
import { parsedRequest } from '@grpc-patterns/interceptors';
import type { Logger } from '@grpc-patterns/observability';
import { ordersV1 } from '@grpc-patterns/proto';
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { mayPlaceOrderFor, mayReadOrdersOf, requireCaller } from './access.js';
import { KeyInFlightError, type IdempotencyKey, type KeyOutcome, type OrderStore, type StoredKey, type StoredOrder } from './order-store.js';
import { encodePageToken } from './page-token.js';
import { normalizePlaceOrder, type ValidPlaceOrder } from './place-order-request.js';
import type { UserCheck } from './user-check.js';
import { checkGetOrder, checkListOrders, checkPlaceOrder } from './validation.js';

/** Response header (initial metadata) set on a PlaceOrder answered from a stored outcome. */
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';

/**
 * Retry delay advertised with ABORTED (google.rpc.RetryInfo, and the gRFC A6 pushback trailer
 * `grpc-retry-pushback-ms` that grpc-js' retry policy honours), ms.
 */
export const IN_FLIGHT_RETRY_DELAY_MS = 500;

/** The handlers: the generated server interface, with PlaceOrder answering serialized bytes. */
export type OrderServiceImplementation = Omit<ordersV1.OrderServiceServer, 'placeOrder'> & {
  placeOrder: grpc.handleUnaryCall<ordersV1.PlaceOrderRequest, Buffer>;
};

/** Test hooks of the PlaceOrder transaction. */
export interface OrderServiceHooks {
  /**
   * Awaited inside the key's transaction after the order rows were inserted, before the
   * outcome is stored and the transaction commits: a test holds a call "in flight" with it.
   */
  insideTransaction?: (key: IdempotencyKey) => Promise<void>;
}

/** Dependencies of {@link orderServiceImplementation}. */
export interface OrderServiceDependencies {
  store: OrderStore;
  userCheck: UserCheck;
  logger: Logger;
  now: () => Date;
  /** Lifetime of a claimed idempotency key, ms. */
  idempotencyKeyTtlMs: number;
  /** Longest wait for an in-flight duplicate, ms (also bounded by the caller's deadline). */
  inFlightWaitMs: number;
  hooks?: OrderServiceHooks;
}

/**
 * The three handlers. Errors: each RPC's status codes and messages are in README's table, "PlaceOrder answers",
 * "Authorization" and "Explanation"; UNAUTHENTICATED `authentication required` when the context has no caller.
 */
export function orderServiceImplementation(deps: OrderServiceDependencies): OrderServiceImplementation {
  const { store, userCheck, logger, now } = deps;

  /**
   * Answers a request whose key is already done: the stored outcome byte for byte (the
   * response bytes, or the stored status), or FAILED_PRECONDITION for a reused key.
   */
  async function replay(call: grpc.ServerUnaryCall<unknown, unknown>, stored: StoredKey, request: ValidPlaceOrder, source: 'key lookup' | 'key conflict'): Promise<Buffer> {
    if (stored.fingerprint !== request.fingerprint) {
      throw new GrpcError(grpc.status.FAILED_PRECONDITION, `request_id ${request.requestId} was already used with a different request`);
    }
    const headers = new grpc.Metadata();
    headers.set(IDEMPOTENT_REPLAYED_HEADER, 'true');
    call.sendMetadata(headers);
    // source "key conflict": a concurrent duplicate met the key inside its transaction.
    logger.debug({ orderId: stored.orderId, userId: request.userId, requestId: request.requestId, code: stored.code, source }, 'order replayed');
    return answer(stored);
  }

  /** The response bytes of an OK outcome, or the stored status as a GrpcError. */
  async function answer(outcome: KeyOutcome): Promise<Buffer> {
    if (outcome.code !== grpc.status.OK) throw new GrpcError(outcome.code, outcome.message);
    if (outcome.response) return outcome.response;
    // A key carried over from schema version 1 stored no bytes: encode its order.
    const order = outcome.orderId === undefined ? undefined : await store.get(outcome.orderId);
    if (!order) throw new Error(`idempotency key outcome OK without a response or an order (${outcome.orderId})`);
    return encodeResponse(order);
  }

  return {
    placeOrder: unary(async (call) => {
      const caller = requireCaller();
      const request = normalizePlaceOrder(parsedRequest(call.request, checkPlaceOrder));
      if (!mayPlaceOrderFor(caller, request.userId)) throw new GrpcError(grpc.status.PERMISSION_DENIED, 'orders can only be placed for yourself');
      const key: IdempotencyKey = { principal: caller.id, requestId: request.requestId };
      // The common retry: a committed key, read without a transaction or a lock.
      const done = await store.findKey(key, now());
      if (done) return replay(call, done, request, 'key lookup');

      // The user check is the work's input, asked before the key is claimed (no transaction
      // or row lock is held across the network call). Only its deterministic answer is kept.
      let userMissing: GrpcError | undefined;
      try {
        await userCheck(request.userId, call);
      } catch (error) {
        if (!(error instanceof GrpcError && error.code === grpc.status.FAILED_PRECONDITION)) throw error;
        userMissing = error;
      }
      // Auth answered, but the caller may be gone by now: then do not create an order it will
      // never hear about (a retry with the same key would still get exactly one).
      ensureCallerWaiting(call);

      const claimTime = now();
      let result;
      try {
        result = await store.executeOnce(
          key,
          {
            fingerprint: request.fingerprint,
            now: claimTime,
            expireTime: new Date(claimTime.getTime() + deps.idempotencyKeyTtlMs),
            lockTimeoutMs: Math.min(deps.inFlightWaitMs, remainingMs(call)),
          },
          async (writer) => {
            // The wait for an in-flight duplicate may have outlived the caller.
            ensureCallerWaiting(call);
            if (userMissing) return { code: userMissing.code, message: userMissing.message };
            const order = await writer.insertOrder({ ...request, id: randomUUID(), createTime: claimTime });
            await deps.hooks?.insideTransaction?.(key);
            return { code: grpc.status.OK, message: '', response: encodeResponse(order), orderId: order.id };
          },
        );
      } catch (error) {
        if (!(error instanceof KeyInFlightError)) throw error;
        throw new GrpcError(grpc.status.ABORTED, `request_id ${request.requestId} is already in progress; retry later`, pushback(IN_FLIGHT_RETRY_DELAY_MS), [], [
          { type: 'RetryInfo', retryDelayMs: IN_FLIGHT_RETRY_DELAY_MS },
        ]);
      }
      if (!result.claimed) return replay(call, result.existing, request, 'key conflict');
      if (result.outcome.code === grpc.status.OK) {
        // placedBy differs from userId when an admin placed the order for someone else.
        logger.info({ orderId: result.outcome.orderId, userId: request.userId, placedBy: caller.id, requestId: request.requestId }, 'order placed');
      }
      return answer(result.outcome);
    }),

    getOrder: unary(async (call) => {
      const caller = requireCaller();
      const { orderId } = parsedRequest(call.request, checkGetOrder);
      const order = await store.get(orderId);
      // Another user's order answers exactly like a missing one: its existence is not revealed.
      if (!order || !mayReadOrdersOf(caller, order.userId)) throw new GrpcError(grpc.status.NOT_FOUND, `order ${call.request.orderId} not found`);
      return { order: toProtoOrder(order) };
    }),

    listOrders: unary(async (call) => {
      const caller = requireCaller();
      const { userId, limit, cursor } = parsedRequest(call.request, checkListOrders);
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
  if (remainingMs(call) <= 0) throw new GrpcError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded before the order was placed');
}

/** Time left until the call's deadline, ms (Infinity without one; ≤ 0 once passed). */
function remainingMs(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return deadlineMs - Date.now();
}

/** Trailing metadata `grpc-retry-pushback-ms: <ms>` (gRFC A6 server pushback). */
function pushback(ms: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('grpc-retry-pushback-ms', String(ms));
  return metadata;
}

/** The serialized PlaceOrderResponse for `order`: what is stored and sent. */
function encodeResponse(order: StoredOrder): Buffer {
  return Buffer.from(ordersV1.PlaceOrderResponse.encode({ order: toProtoOrder(order) }).finish());
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
