// The orders request rules as the validation interceptor sees them: one registry entry per
// method, answering with the same violations the handlers would throw.
import { ordersV1 } from '@grpc-patterns/proto';
import { checkListOrders, checkPlaceOrder, ordersValidation, valueOrThrow } from './validation.js';

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
    expect(() => valueOrThrow(checkListOrders(request))).toThrow(
      expect.objectContaining({ code: 3, message: 'user_id: must not be empty; page_size: must be at most 100', fieldViolations: validator('/orders.v1.OrderService/ListOrders')(request) }),
    );
    expect(valueOrThrow(checkListOrders(ordersV1.ListOrdersRequest.fromPartial({ userId: 'u1' })))).toEqual({ userId: 'u1', limit: 20, cursor: undefined });
  });
});
