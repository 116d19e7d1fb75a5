// The orders request rules as the validation interceptor sees them: one registry entry per
// method, answering with the same violations the handlers would throw.
import { parsedRequest } from '@grpc-patterns/interceptors';
import { ordersV1 } from '@grpc-patterns/proto';
import { MAX_CURSOR_TIME_MS, encodePageToken } from './page-token.js';
import { checkListOrders, checkPlaceOrder, ordersValidation } from './validation.js';

describe('ordersValidation()', () => {
  const registry = ordersValidation();
  const validator = (path: string) => {
    const validate = registry.get(path);
    if (!validate) throw new Error(`no rules for ${path}`);
    return validate;
  };

  it('has rules for exactly the three methods', () => {
    expect(registry.paths()).toEqual(['/orders.v1.OrderService/PlaceOrder', '/orders.v1.OrderService/GetOrder', '/orders.v1.OrderService/ListOrders']);
  });

  it('reports PlaceOrder violations with proto field paths, and none for a valid request', () => {
    const bad = ordersV1.PlaceOrderRequest.fromPartial({ requestId: 'short', userId: '', items: [{ sku: 'A', quantity: 0, unitPriceCents: 'x' }], currency: 'usd' });
    expect(validator('/orders.v1.OrderService/PlaceOrder')(bad)).toEqual([
      { field: 'request_id', description: 'must be 8-128 characters of A-Z, a-z, 0-9, "_" and "-"' },
      { field: 'user_id', description: 'must not be empty' },
      { field: 'items[0].quantity', description: 'must be between 1 and 1000' },
      { field: 'items[0].unit_price_cents', description: 'must be between 0 and 100000000' },
      { field: 'currency', description: 'must be 3 upper-case letters (ISO 4217), or empty for USD' },
    ]);
    const good = ordersV1.PlaceOrderRequest.fromPartial({ requestId: 'request-1', userId: 'u1', items: [{ sku: 'A', quantity: 2, unitPriceCents: '150' }] });
    expect(validator('/orders.v1.OrderService/PlaceOrder')(good)).toEqual([]);
    expect(checkPlaceOrder(good).value).toEqual({ requestId: 'request-1', userId: 'u1', items: [{ sku: 'A', quantity: 2, unitPriceCents: 150n }], currency: 'USD' });
  });

  it('reports GetOrder and ListOrders violations', () => {
    expect(validator('/orders.v1.OrderService/GetOrder')(ordersV1.GetOrderRequest.fromPartial({ orderId: 'order-42' }))).toEqual([{ field: 'order_id', description: 'must be a UUID' }]);
    expect(validator('/orders.v1.OrderService/ListOrders')(ordersV1.ListOrdersRequest.fromPartial({ userId: 'u1', pageSize: 101, pageToken: '!' }))).toEqual([
      { field: 'page_size', description: 'must be at most 100' },
      { field: 'page_token', description: 'is not a valid page token' },
    ]);
  });

  it('is what the handlers throw: INVALID_ARGUMENT with the same violations', () => {
    const request = ordersV1.ListOrdersRequest.fromPartial({ userId: '', pageSize: 101 });
    expect(() => parsedRequest(request, checkListOrders)).toThrow(
      expect.objectContaining({ code: 3, message: 'user_id: must not be empty; page_size: must be at most 100', fieldViolations: validator('/orders.v1.OrderService/ListOrders')(request) }),
    );
    expect(parsedRequest(ordersV1.ListOrdersRequest.fromPartial({ userId: 'u1' }), checkListOrders)).toEqual({ userId: 'u1', limit: 20, cursor: undefined });
  });

  // Red-team finding 6 (issue 17): what the store cannot hold is refused here, not by PostgreSQL.
  it('refuses control characters (NUL above all) in sku and user_id, which PostgreSQL cannot store', () => {
    const place = validator('/orders.v1.OrderService/PlaceOrder');
    const request = (userId: string, sku: string) => ordersV1.PlaceOrderRequest.fromPartial({ requestId: 'request-1', userId, items: [{ sku, quantity: 1, unitPriceCents: '1' }] });
    expect(place(request('u1', 'A\u0000B'))).toEqual([{ field: 'items[0].sku', description: 'must not contain control characters' }]);
    expect(place(request('u1\u0000', 'A\u007f'))).toEqual([
      { field: 'user_id', description: 'must not contain control characters' },
      { field: 'items[0].sku', description: 'must not contain control characters' },
    ]);
    expect(validator('/orders.v1.OrderService/ListOrders')(ordersV1.ListOrdersRequest.fromPartial({ userId: 'u\u001b1' }))).toEqual([{ field: 'user_id', description: 'must not contain control characters' }]);
    // Not a control character: letters of any script, and U+FFFD (what an invalid UTF-8 byte decodes to).
    expect(place(request('ü-1', 'Kaffee-\u00e9-\ufffd'))).toEqual([]);
  });

  it('accepts page tokens dated up to the end of year 9999 and refuses later ones (PGlite cannot hold them)', () => {
    const id = '0b9c1f7e-3f1a-4a53-9f2e-1c8f0d6e2a11';
    const list = (t: number) => checkListOrders(ordersV1.ListOrdersRequest.fromPartial({ userId: 'u1', pageToken: encodePageToken({ userId: 'u1', createTime: new Date(t), id }) }));
    expect(MAX_CURSOR_TIME_MS).toBe(Date.parse('9999-12-31T23:59:59.999Z'));
    expect(list(MAX_CURSOR_TIME_MS).value?.cursor).toEqual({ userId: 'u1', createTime: new Date(MAX_CURSOR_TIME_MS), id });
    for (const t of [MAX_CURSOR_TIME_MS + 1, Date.UTC(10000, 0, 1), 8.64e15]) {
      expect(list(t).violations).toEqual([{ field: 'page_token', description: 'is not a valid page token' }]);
    }
  });
});
