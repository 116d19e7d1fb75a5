/**
 * PlaceOrder input: validation, normalization, the server-side total and the request
 * fingerprint that tells a retry (same key, same request) from a reused key (same key,
 * different request).
 *
 * Field paths in INVALID_ARGUMENT messages use proto field names and the google.rpc.BadRequest
 * `FieldViolation.field` syntax (googleapis `google/rpc/error_details.proto`): `request_id`,
 * `items`, `items[2].unit_price_cents`.
 */
import { invalidArgument, type FieldViolation } from '@grpc-patterns/grpc-kit';
import type { ordersV1 } from '@grpc-patterns/proto';
import { createHash } from 'node:crypto';

/** Idempotency key syntax: 8-128 of [A-Za-z0-9_-] (a UUID fits), per orders.proto. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
/** Longest accepted user_id, characters (auth issues 36-character UUIDs). */
export const USER_ID_MAX_LENGTH = 128;
export const MIN_ITEMS = 1;
export const MAX_ITEMS = 100;
export const SKU_MAX_LENGTH = 64;
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 1000;
/** Highest unit price, cents (orders.proto). */
export const MAX_UNIT_PRICE_CENTS = 100_000_000n;
/** Used when the request leaves currency empty (orders.proto). */
export const DEFAULT_CURRENCY = 'USD';
/**
 * At most this many violations are reported in one status: the message travels in the
 * `grpc-message` header, and 300 of them (100 bad items) would pass grpc-js' 8 KiB metadata limit.
 */
export const MAX_REPORTED_VIOLATIONS = 10;

/** One validated line item; the price as a BigInt so sums never touch floating point. */
export interface ValidLineItem {
  sku: string;
  quantity: number;
  unitPriceCents: bigint;
}

/** A validated, normalized PlaceOrderRequest. */
export interface ValidPlaceOrder {
  requestId: string;
  userId: string;
  items: ValidLineItem[];
  /** Three upper-case letters; "USD" when the request left it empty. */
  currency: string;
  /** Σ quantity × unit_price_cents, cents (≤ 100 × 1000 × 10^8 = 10^13, exact in int64). */
  totalCents: bigint;
  /** See {@link requestFingerprint}. */
  fingerprint: string;
}

/** INVALID_ARGUMENT `user_id: ...` problems, shared by PlaceOrder and ListOrders. */
export function userIdViolation(userId: string): FieldViolation | undefined {
  if (userId === '') return { field: 'user_id', description: 'must not be empty' };
  if ([...userId].length > USER_ID_MAX_LENGTH) return { field: 'user_id', description: `must be at most ${USER_ID_MAX_LENGTH} characters` };
  return undefined;
}

/**
 * Checks and normalizes a PlaceOrderRequest.
 *
 * @throws GrpcError INVALID_ARGUMENT naming every bad field (up to {@link MAX_REPORTED_VIOLATIONS}),
 *   e.g. `items[0].quantity: must be between 1 and 1000`.
 */
export function validatePlaceOrder(request: ordersV1.PlaceOrderRequest): ValidPlaceOrder {
  const violations: FieldViolation[] = [];
  if (request.requestId === '') violations.push({ field: 'request_id', description: 'must not be empty' });
  else if (!REQUEST_ID_PATTERN.test(request.requestId)) {
    violations.push({ field: 'request_id', description: 'must be 8-128 characters of A-Z, a-z, 0-9, "_" and "-"' });
  }
  const userProblem = userIdViolation(request.userId);
  if (userProblem) violations.push(userProblem);

  const items: ValidLineItem[] = [];
  if (request.items.length < MIN_ITEMS || request.items.length > MAX_ITEMS) {
    violations.push({ field: 'items', description: `must have ${MIN_ITEMS} to ${MAX_ITEMS} items (got ${request.items.length})` });
  } else {
    request.items.forEach((item, i) => {
      const skuLength = [...item.sku].length;
      if (skuLength < 1 || skuLength > SKU_MAX_LENGTH) violations.push({ field: `items[${i}].sku`, description: `must be 1-${SKU_MAX_LENGTH} characters` });
      if (!Number.isInteger(item.quantity) || item.quantity < MIN_QUANTITY || item.quantity > MAX_QUANTITY) {
        violations.push({ field: `items[${i}].quantity`, description: `must be between ${MIN_QUANTITY} and ${MAX_QUANTITY}` });
      }
      const price = parseCents(item.unitPriceCents);
      if (price === undefined || price < 0n || price > MAX_UNIT_PRICE_CENTS) {
        violations.push({ field: `items[${i}].unit_price_cents`, description: `must be between 0 and ${MAX_UNIT_PRICE_CENTS}` });
      } else {
        items.push({ sku: item.sku, quantity: item.quantity, unitPriceCents: price });
      }
    });
  }

  const currency = request.currency === '' ? DEFAULT_CURRENCY : request.currency;
  if (!/^[A-Z]{3}$/.test(currency)) violations.push({ field: 'currency', description: 'must be 3 upper-case letters (ISO 4217), or empty for USD' });

  if (violations.length > 0) throw invalidArgument(violations.slice(0, MAX_REPORTED_VIOLATIONS));

  const valid = { requestId: request.requestId, userId: request.userId, items, currency };
  return {
    ...valid,
    totalCents: items.reduce((sum, item) => sum + BigInt(item.quantity) * item.unitPriceCents, 0n),
    fingerprint: requestFingerprint(valid),
  };
}

/**
 * SHA-256 (hex) of the canonical form of a normalized request: a JSON array of a version tag,
 * user_id, the defaulted currency and the items in request order as [sku, quantity, cents as a
 * decimal string]. Arrays (not objects) keep the encoding independent of key order, and the
 * normalization makes `currency: ""` and `currency: "USD"` the same request. request_id is the
 * key itself, so it is not part of the fingerprint. Changing this encoding needs a new version
 * tag, or retries of orders placed before the change would be rejected as mismatches.
 */
export function requestFingerprint(order: Pick<ValidPlaceOrder, 'userId' | 'items' | 'currency'>): string {
  const canonical = JSON.stringify([
    'orders.v1.PlaceOrderRequest/1',
    order.userId,
    order.currency,
    order.items.map((item) => [item.sku, item.quantity, item.unitPriceCents.toString()]),
  ]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** An int64 as ts-proto hands it over (a decimal string), or undefined when it is not one. */
function parseCents(value: string): bigint | undefined {
  return /^-?\d{1,19}$/.test(value) ? BigInt(value) : undefined;
}
