// PlaceOrder against the real auth service (child process), behind the full interceptor chain,
// as a logged-in user: creation, idempotent replay, reused keys, 50 concurrent duplicates,
// unknown users and every INVALID_ARGUMENT with its google.rpc.BadRequest.
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { ordersV1 } from '@grpc-patterns/proto';
import { randomUUID } from 'node:crypto';
import { cleanUp, orderRequest, orderOf, placeOrder, replayed, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth } from '../test/harness.js';

describe('PlaceOrder', () => {
  let auth: RealAuth;
  let orders: OrdersUnderTest;
  let userId: string;
  /** The orders client of the user `userId`. */
  let client: ordersV1.OrderServiceClient;

  beforeAll(async () => {
    auth = await startRealAuth();
    orders = await startOrders({ authTarget: auth.target });
    const buyer = await auth.registerUser();
    userId = buyer.id;
    client = orders.clientFor(buyer);
  });
  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await cleanUp();
  });

  it('creates the order with a server-computed total, USD by default, and no replay header', async () => {
    const request = orderRequest(userId, {
      items: [
        { sku: 'TEA-GREEN-100G', quantity: 3, unitPriceCents: '1250' },
        // Characters that need quoting in a PostgreSQL array literal survive the round trip.
        { sku: 'odd, "sku" {1}\\ é', quantity: 1, unitPriceCents: '0' },
      ],
    });
    const result = await placeOrder(client, request);
    const order = orderOf(result);
    expect(order).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      requestId: request.requestId,
      userId,
      items: request.items,
      totalCents: '3750',
      currency: 'USD',
      status: ordersV1.OrderStatus.ORDER_STATUS_PLACED,
      createTime: expect.any(Date),
    });
    expect(replayed(result)).toBeUndefined();
    expect(await orders.service.store.count(userId)).toBe(1);
    expect(orders.logs.filter((l) => l.msg === 'order placed' && l.orderId === order.id && l.placedBy === userId)).toHaveLength(1);
  });

  it('accepts every limit at its maximum and sums in integer cents', async () => {
    const otherUser = await auth.registerUser('max');
    const theirs = orders.clientFor(otherUser);
    const items = Array.from({ length: 100 }, (_, i) => ({ sku: `${i}`.padStart(64, 'S'), quantity: 1000, unitPriceCents: '100000000' }));
    const result = await placeOrder(theirs, orderRequest(otherUser.id, { requestId: 'k'.repeat(128), items, currency: 'EUR' }));
    // 100 × 1000 × 10^8 = 10^13 cents: exact, no float rounding.
    expect(result.response.order).toMatchObject({ totalCents: '10000000000000', currency: 'EUR', requestId: 'k'.repeat(128) });
    expect(orderOf(result).items).toEqual(items);
    const minimal = await placeOrder(theirs, orderRequest(otherUser.id, { requestId: 'eight-ch', items: [{ sku: 'x', quantity: 1, unitPriceCents: '0' }] }));
    expect(minimal.response.order).toMatchObject({ totalCents: '0', requestId: 'eight-ch' });
  });

  it('replays a retry with the same key and payload: same order, header idempotent-replayed: true', async () => {
    const request = orderRequest(userId);
    const first = await placeOrder(client, request);
    // currency "" and "USD" are the same request once normalized.
    const retry = await placeOrder(client, { ...request, currency: 'USD' });
    expect(retry.response).toEqual(first.response);
    expect(replayed(first)).toBeUndefined();
    expect(replayed(retry)).toBe('true');
    expect(await orders.service.store.count(userId)).toBe(2);
  });

  it('rejects the same key with a different payload with FAILED_PRECONDITION', async () => {
    const request = orderRequest(userId);
    const first = await placeOrder(client, request);
    const changed = [
      { ...request, items: [{ ...request.items[0], quantity: request.items[0].quantity + 1 }, request.items[1]] },
      { ...request, items: [...request.items].reverse() },
      { ...request, currency: 'EUR' },
    ];
    for (const other of changed) {
      const error = await expectStatus(placeOrder(client, other));
      expect([error.code, error.details]).toEqual([grpc.status.FAILED_PRECONDITION, `request_id ${request.requestId} was already used with a different request`]);
    }
    const { response } = await placeOrder(client, request);
    expect(orderOf(response).id).toBe(orderOf(first).id);
  });

  it('scopes the key to the user: another user may use the same request_id', async () => {
    const other = await auth.registerUser('other');
    const requestId = `shared-${randomUUID()}`;
    const mine = await placeOrder(client, orderRequest(userId, { requestId }));
    const theirs = await placeOrder(orders.clientFor(other), orderRequest(other.id, { requestId }));
    expect(orderOf(theirs).id).not.toBe(orderOf(mine).id);
    expect([replayed(mine), replayed(theirs)]).toEqual([undefined, undefined]);
  });

  it('creates exactly one order for 50 concurrent calls with one key', async () => {
    const racer = await auth.registerUser('race');
    const buyer = racer.id;
    const racerClient = orders.clientFor(racer);
    const request = orderRequest(buyer, { requestId: randomUUID() });
    const results = await Promise.all(Array.from({ length: 50 }, () => placeOrder(racerClient, request)));
    const ids = new Set(results.map((r) => orderOf(r).id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => replayed(r) === undefined)).toHaveLength(1);
    expect(results.filter((r) => replayed(r) === 'true')).toHaveLength(49);
    expect(await orders.service.store.count(buyer)).toBe(1);
    const replays = orders.logs.filter((l) => l.msg === 'order replayed' && l.userId === buyer);
    expect(replays).toHaveLength(49);
    const listed = await new Promise<ordersV1.ListOrdersResponse>((resolve, reject) =>
      racerClient.listOrders(ordersV1.ListOrdersRequest.fromPartial({ userId: buyer, pageSize: 100 }), (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(listed.orders.map((o) => o.id)).toEqual([...ids]);
  });

  it('answers FAILED_PRECONDITION for a user auth does not know, and stores nothing', async () => {
    // Only an admin may place an order for a user_id other than its own.
    const admin = orders.clientFor(await auth.admin());
    const ghost = randomUUID();
    for (const id of [ghost, 'not-a-uuid-user']) {
      const error = await expectStatus(placeOrder(admin, orderRequest(id)));
      expect([error.code, error.details]).toEqual([grpc.status.FAILED_PRECONDITION, `user ${id} does not exist`]);
      expect(await orders.service.store.count(id)).toBe(0);
    }
  });

  describe('INVALID_ARGUMENT naming the field', () => {
    const valid = () => orderRequest(userId);
    const item = { sku: 'SKU-1', quantity: 1, unitPriceCents: '100' };
    const cases: Array<[string, () => ordersV1.PlaceOrderRequest, string]> = [
      ['empty request_id', () => ({ ...valid(), requestId: '' }), 'request_id: must not be empty'],
      ['short request_id', () => ({ ...valid(), requestId: 'seven77' }), 'request_id: must be 8-128 characters of A-Z, a-z, 0-9, "_" and "-"'],
      ['long request_id', () => ({ ...valid(), requestId: 'k'.repeat(129) }), 'request_id: must be 8-128 characters of A-Z, a-z, 0-9, "_" and "-"'],
      ['request_id with a space', () => ({ ...valid(), requestId: 'has space 1' }), 'request_id: must be 8-128 characters of A-Z, a-z, 0-9, "_" and "-"'],
      ['empty user_id', () => ({ ...valid(), userId: '' }), 'user_id: must not be empty'],
      ['long user_id', () => ({ ...valid(), userId: 'u'.repeat(129) }), 'user_id: must be at most 128 characters'],
      ['no items', () => ({ ...valid(), items: [] }), 'items: must have 1 to 100 items (got 0)'],
      ['101 items', () => ({ ...valid(), items: Array.from({ length: 101 }, () => item) }), 'items: must have 1 to 100 items (got 101)'],
      ['empty sku', () => ({ ...valid(), items: [{ ...item, sku: '' }] }), 'items[0].sku: must be 1-64 characters'],
      ['65-character sku', () => ({ ...valid(), items: [item, { ...item, sku: 'S'.repeat(65) }] }), 'items[1].sku: must be 1-64 characters'],
      ['quantity 0', () => ({ ...valid(), items: [{ ...item, quantity: 0 }] }), 'items[0].quantity: must be between 1 and 1000'],
      ['quantity 1001', () => ({ ...valid(), items: [{ ...item, quantity: 1001 }] }), 'items[0].quantity: must be between 1 and 1000'],
      ['negative price', () => ({ ...valid(), items: [{ ...item, unitPriceCents: '-1' }] }), 'items[0].unit_price_cents: must be between 0 and 100000000'],
      ['price above the maximum', () => ({ ...valid(), items: [{ ...item, unitPriceCents: '100000001' }] }), 'items[0].unit_price_cents: must be between 0 and 100000000'],
      ['lower-case currency', () => ({ ...valid(), currency: 'usd' }), 'currency: must be 3 upper-case letters (ISO 4217), or empty for USD'],
      ['four-letter currency', () => ({ ...valid(), currency: 'EURO' }), 'currency: must be 3 upper-case letters (ISO 4217), or empty for USD'],
      [
        'several bad fields at once',
        () => ({ ...valid(), requestId: '', items: [{ sku: '', quantity: 0, unitPriceCents: '1' }] }),
        'request_id: must not be empty; items[0].sku: must be 1-64 characters; items[0].quantity: must be between 1 and 1000',
      ],
    ];

    it.each(cases)('%s', async (_name, build, message) => {
      const error = await expectStatus(placeOrder(client, build()));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, message]);
      // The same violations, machine-readable: a google.rpc.BadRequest in grpc-status-details-bin.
      const violations = message.split('; ').map((text) => {
        const [field, description] = text.split(/: (.*)/s);
        return { field, description };
      });
      expect(decodeStatusDetails(error)).toEqual({ code: grpc.status.INVALID_ARGUMENT, message, fieldViolations: violations, otherTypeUrls: [] });
    });

    it('names the exact field paths in the BadRequest details', async () => {
      const error = await expectStatus(placeOrder(client, { ...valid(), requestId: '', items: [item, { sku: '', quantity: 0, unitPriceCents: '-5' }], currency: 'usd' }));
      expect(decodeStatusDetails(error)?.fieldViolations?.map((v) => v.field)).toEqual(['request_id', 'items[1].sku', 'items[1].quantity', 'items[1].unit_price_cents', 'currency']);
    });

    it('reports at most 10 violations', async () => {
      const error = await expectStatus(placeOrder(client, { ...valid(), items: Array.from({ length: 12 }, () => ({ ...item, quantity: 0 })) }));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details.split('; ')).toEqual(Array.from({ length: 10 }, (_, i) => `items[${i}].quantity: must be between 1 and 1000`));
      expect(decodeStatusDetails(error)?.fieldViolations).toHaveLength(10);
    });

    it('stored nothing for any invalid request', async () => {
      expect(await orders.service.store.count('')).toBe(0);
      expect(await orders.service.store.count('u'.repeat(129))).toBe(0);
    });
  });
});
