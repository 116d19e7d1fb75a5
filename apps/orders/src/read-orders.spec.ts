// GetOrder and ListOrders (keyset pages, newest first) as the orders' owner, behind the full
// interceptor chain, and orders surviving a restart of the service on the same DATA_DIR.
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { ordersV1 } from '@grpc-patterns/proto';
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { MIGRATIONS } from './migrations.js';
import { cleanUp, orderRequest, orderOf, placeOrder, replayed, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth, type TestUser } from '../test/harness.js';

describe('GetOrder and ListOrders', () => {
  let auth: RealAuth;
  let orders: OrdersUnderTest;
  // A scripted clock: each order is `step` ms after the previous one.
  let clock = Date.parse('2025-01-01T00:00:00.000Z');
  let step = 1_000;
  const now = () => {
    const time = new Date(clock);
    clock += step;
    return time;
  };

  /** The caller of getOrder/listOrders; tests set it. */
  let caller: TestUser;
  const as = () => orders.clientFor(caller);
  const getOrder = (orderId: string) => unaryCall(as().getOrder.bind(as()), ordersV1.GetOrderRequest.fromPartial({ orderId }));
  const listOrders = (request: Partial<ordersV1.ListOrdersRequest>) => unaryCall(as().listOrders.bind(as()), ordersV1.ListOrdersRequest.fromPartial(request));
  /** Registers a user and makes it the caller; returns its id. */
  async function newCaller(prefix: string): Promise<string> {
    caller = await auth.registerUser(prefix);
    return caller.id;
  }
  /** Places `n` orders for the caller one after another; returns their ids, oldest first. */
  async function placeMany(userId: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(orderOf(await placeOrder(as(), orderRequest(userId))).id);
    return ids;
  }

  beforeAll(async () => {
    auth = await startRealAuth();
    orders = await startOrders({ authTarget: auth.target, now });
  });
  afterEach(() => {
    step = 1_000;
  });
  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await cleanUp();
  });

  it('GetOrder returns the order PlaceOrder returned', async () => {
    const userId = await newCaller('get');
    const placed = orderOf(await placeOrder(as(), orderRequest(userId)));
    expect((await getOrder(placed.id)).order).toEqual(placed);
    expect((await getOrder(placed.id.toUpperCase())).order).toEqual(placed);
  });

  it.each([
    ['', 'INVALID_ARGUMENT', 'order_id: must not be empty'],
    ['order-42', 'INVALID_ARGUMENT', 'order_id: must be a UUID'],
    ['00000000-0000-4000-8000-000000000000', 'NOT_FOUND', 'order 00000000-0000-4000-8000-000000000000 not found'],
  ] as const)('GetOrder(%j) fails with %s', async (orderId, code, message) => {
    await newCaller('getter');
    const error = await expectStatus(getOrder(orderId));
    expect([grpc.status[error.code], error.details]).toEqual([code, message]);
    if (code === 'INVALID_ARGUMENT') expect(decodeStatusDetails(error)?.fieldViolations).toEqual([{ field: 'order_id', description: message.slice('order_id: '.length) }]);
  });

  it('pages newest first with exact pages and an empty token on the last one', async () => {
    const userId = await newCaller('pager');
    const [o1, o2, o3, o4, o5] = await placeMany(userId, 5);
    const page1 = await listOrders({ userId, pageSize: 2 });
    expect(page1.orders.map((o) => o.id)).toEqual([o5, o4]);
    expect(page1.nextPageToken).not.toBe('');
    const page2 = await listOrders({ userId, pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2.orders.map((o) => o.id)).toEqual([o3, o2]);
    const page3 = await listOrders({ userId, pageSize: 2, pageToken: page2.nextPageToken });
    expect(page3.orders.map((o) => o.id)).toEqual([o1]);
    expect(page3.nextPageToken).toBe('');
    // A page that ends exactly at the last order says so: no empty extra page.
    const exact = await listOrders({ userId, pageSize: 5 });
    expect([exact.orders.length, exact.nextPageToken]).toEqual([5, '']);
    // Orders placed after a token was issued do not shift the later pages (keyset, not offset).
    await placeMany(userId, 1);
    const again = await listOrders({ userId, pageSize: 2, pageToken: page1.nextPageToken });
    expect(again.orders.map((o) => o.id)).toEqual([o3, o2]);
  });

  it('uses 20 orders per page when page_size is 0, and allows 100', async () => {
    const userId = await newCaller('many');
    const ids = (await placeMany(userId, 21)).reverse();
    const first = await listOrders({ userId });
    expect(first.orders.map((o) => o.id)).toEqual(ids.slice(0, 20));
    const second = await listOrders({ userId, pageToken: first.nextPageToken });
    expect([second.orders.map((o) => o.id), second.nextPageToken]).toEqual([ids.slice(20), '']);
    const all = await listOrders({ userId, pageSize: 100 });
    expect([all.orders.map((o) => o.id), all.nextPageToken]).toEqual([ids, '']);
  });

  it('breaks create_time ties by id, so pages neither repeat nor skip', async () => {
    step = 0;
    const userId = await newCaller('ties');
    const ids = await placeMany(userId, 5);
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await listOrders({ userId, pageSize: 2, pageToken });
      seen.push(...page.orders.map((o) => o.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    expect(seen).toEqual([...ids].sort().reverse());
  });

  it('returns an empty page for a user without orders', async () => {
    expect(await listOrders({ userId: await newCaller('empty') })).toEqual({ orders: [], nextPageToken: '' });
  });

  it('rejects bad ListOrders arguments with INVALID_ARGUMENT naming the field', async () => {
    const userId = await newCaller('lister');
    await placeMany(userId, 2);
    const otherUser = (await auth.registerUser('nosy')).id;
    const token = (await listOrders({ userId, pageSize: 1 })).nextPageToken;
    const notACursor = Buffer.from(JSON.stringify({ v: 1, u: userId, t: 'yesterday', i: 'x' })).toString('base64url');
    const cases: Array<[Partial<ordersV1.ListOrdersRequest>, string]> = [
      [{ userId: '' }, 'user_id: must not be empty'],
      [{ userId, pageSize: 101 }, 'page_size: must be at most 100'],
      [{ userId: '', pageSize: 101 }, 'user_id: must not be empty; page_size: must be at most 100'],
      [{ userId, pageToken: 'not a token!' }, 'page_token: is not a valid page token'],
      [{ userId, pageToken: Buffer.from('{"v":1').toString('base64url') }, 'page_token: is not a valid page token'],
      [{ userId, pageToken: notACursor }, 'page_token: is not a valid page token'],
      [{ userId: otherUser, pageToken: token }, 'page_token: belongs to another user_id'],
    ];
    for (const [request, message] of cases) {
      const error = await expectStatus(listOrders(request));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, message]);
      expect(decodeStatusDetails(error)?.fieldViolations?.map((v) => `${v.field}: ${v.description}`).join('; ')).toBe(message);
    }
  });
});

describe('restart', () => {
  let auth: RealAuth;
  beforeAll(async () => {
    auth = await startRealAuth();
  });
  afterAll(async () => {
    await auth?.stop();
    await cleanUp();
  });

  it('keeps orders and idempotency keys across a close and reopen of the same DATA_DIR', async () => {
    const user = await auth.registerUser('durable');
    const userId = user.id;
    const first = await startOrders({ authTarget: auth.target });
    const request = orderRequest(userId);
    const placed = orderOf(await placeOrder(first.clientFor(user), request));
    expect(first.logs.filter((l) => l.msg === 'schema migrated').map((l) => l.versions)).toEqual([MIGRATIONS.map((m) => m.version)]);
    await first.close();

    const second = await startOrders({ authTarget: auth.target, dataDir: first.dataDir });
    try {
      // Migrations are not applied twice.
      expect(second.logs.filter((l) => l.msg === 'schema migrated')).toEqual([]);
      const client = second.clientFor(user);
      const got = await unaryCall(client.getOrder.bind(client), ordersV1.GetOrderRequest.fromPartial({ orderId: placed.id }));
      expect(got.order).toEqual(placed);
      const retry = await placeOrder(client, request);
      expect([retry.response.order, replayed(retry)]).toEqual([placed, 'true']);
      const changed = await expectStatus(placeOrder(client, { ...request, currency: 'EUR' }));
      expect(changed.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(await second.service.store.count()).toBe(1);
    } finally {
      await second.close();
    }
  });
});
