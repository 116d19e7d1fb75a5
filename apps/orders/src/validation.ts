/**
 * The request rules of orders.v1.OrderService, declared once. Each `check*` function checks
 * one request message and either parses it (the values the handler works with) or returns every
 * violation, so the rules and the parsing cannot drift apart. Each request is checked once:
 * - {@link ordersValidation} registers them as parsers with the validation interceptor of
 *   @grpc-patterns/interceptors (service.ts returns it, the runtime's serve() installs it): a bad request ends with
 *   INVALID_ARGUMENT and a google.rpc.BadRequest before the handler runs;
 * - the handlers take the parsed value the interceptor kept (`parsedRequest(call.request,
 *   check*)`); on a server without the interceptor `parsedRequest` runs the check there, and
 *   rejects a bad request with the same status, message and details.
 *
 * Field paths use proto field names and the google.rpc.BadRequest `FieldViolation.field`
 * syntax (googleapis `google/rpc/error_details.proto`): `request_id`, `items`,
 * `items[2].unit_price_cents`. The message is `field: description`, joined with "; ".
 */
import type { FieldViolation } from '@grpc-patterns/grpc-kit';
import { ValidationRegistry, type Checked } from '@grpc-patterns/interceptors';
import { ordersV1 } from '@grpc-patterns/proto';
import { parsePageToken, type PageCursor } from './page-token.js';

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
/** ListOrders page size when the request says 0 (orders.proto). */
export const DEFAULT_PAGE_SIZE = 20;
/** Largest ListOrders page (orders.proto). */
export const MAX_PAGE_SIZE = 100;
/** An order id: a UUID in its 8-4-4-4-12 hex form, any case. */
export const ORDER_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * C0 and C1 control characters (`\p{Cc}`: NUL, TAB, ESC, DEL...). PostgreSQL (and PGlite) cannot
 * store a 0x00 byte in `text` at all (SQLSTATE 22021, which came back to the client as INTERNAL:
 * red-team finding 6 of issue 17), and no sku or user id needs the others.
 */
export const CONTROL_CHARACTER = /\p{Cc}/u;
/**
 * At most this many violations are reported in one status: the message travels in the
 * `grpc-message` header, and 300 of them (100 bad items) would pass grpc-js' 8 KiB metadata limit.
 */
export const MAX_REPORTED_VIOLATIONS = 10;

/** One line item with its price as a BigInt, so sums never touch floating point. */
export interface ValidLineItem {
  sku: string;
  quantity: number;
  unitPriceCents: bigint;
}

/** A PlaceOrderRequest that passed the rules; currency defaulted. */
export interface ParsedPlaceOrder {
  requestId: string;
  userId: string;
  items: ValidLineItem[];
  /** Three upper-case letters; "USD" when the request left it empty. */
  currency: string;
}

/** A ListOrdersRequest that passed the rules. */
export interface ParsedListOrders {
  userId: string;
  /** page_size, with 0 replaced by {@link DEFAULT_PAGE_SIZE}. */
  limit: number;
  /** From page_token; undefined for the first page. */
  cursor?: PageCursor;
}

/** `user_id` of PlaceOrder and ListOrders: 1-128 characters, no control characters ({@link CONTROL_CHARACTER}). */
export function userIdViolation(userId: string): FieldViolation | undefined {
  if (userId === '') return { field: 'user_id', description: 'must not be empty' };
  if ([...userId].length > USER_ID_MAX_LENGTH) return { field: 'user_id', description: `must be at most ${USER_ID_MAX_LENGTH} characters` };
  if (CONTROL_CHARACTER.test(userId)) return { field: 'user_id', description: 'must not contain control characters' };
  return undefined;
}

/**
 * Parses a PlaceOrderRequest: request_id, user_id, 1-100 items (sku, quantity, unit_price_cents), currency, by the
 * rules of README "Explanation: Validation", with up to {@link MAX_REPORTED_VIOLATIONS} violations.
 */
export function checkPlaceOrder(request: ordersV1.PlaceOrderRequest): Checked<ParsedPlaceOrder> {
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
      else if (CONTROL_CHARACTER.test(item.sku)) violations.push({ field: `items[${i}].sku`, description: 'must not contain control characters' });
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

  if (violations.length > 0) return { violations: violations.slice(0, MAX_REPORTED_VIOLATIONS) };
  return { value: { requestId: request.requestId, userId: request.userId, items, currency } };
}

/** GetOrderRequest: `order_id` a UUID (any case; parsed to lower case, as ids are stored). */
export function checkGetOrder(request: ordersV1.GetOrderRequest): Checked<{ orderId: string }> {
  const { orderId } = request;
  if (orderId === '') return { violations: [{ field: 'order_id', description: 'must not be empty' }] };
  if (!ORDER_ID_PATTERN.test(orderId)) return { violations: [{ field: 'order_id', description: 'must be a UUID' }] };
  return { value: { orderId: orderId.toLowerCase() } };
}

/**
 * ListOrdersRequest: `user_id`, `page_size` at most {@link MAX_PAGE_SIZE} (0: the default),
 * `page_token` empty or from a previous response for the same `user_id` (checked once
 * `user_id` itself is valid).
 */
export function checkListOrders(request: ordersV1.ListOrdersRequest): Checked<ParsedListOrders> {
  const { userId, pageSize, pageToken } = request;
  const violations: FieldViolation[] = [];
  const userProblem = userIdViolation(userId);
  if (userProblem) violations.push(userProblem);
  if (pageSize > MAX_PAGE_SIZE) violations.push({ field: 'page_size', description: `must be at most ${MAX_PAGE_SIZE}` });
  let cursor: PageCursor | undefined;
  if (pageToken !== '' && !userProblem) {
    const parsed = parsePageToken(pageToken, userId);
    if (parsed.violation) violations.push(parsed.violation);
    else cursor = parsed.cursor;
  }
  if (violations.length > 0) return { violations };
  return { value: { userId, limit: pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize, cursor } };
}

/** The rules of PlaceOrder, GetOrder and ListOrders, for serve({ validation }) / serverInterceptorChain. */
export function ordersValidation(): ValidationRegistry {
  return new ValidationRegistry()
    .addParser(ordersV1.OrderServiceService.placeOrder, checkPlaceOrder)
    .addParser(ordersV1.OrderServiceService.getOrder, checkGetOrder)
    .addParser(ordersV1.OrderServiceService.listOrders, checkListOrders);
}

/** An int64 as ts-proto hands it over (a decimal string), or undefined when it is not one. */
function parseCents(value: string): bigint | undefined {
  return /^-?\d{1,19}$/.test(value) ? BigInt(value) : undefined;
}
