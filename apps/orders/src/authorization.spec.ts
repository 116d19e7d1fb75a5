// Who may do what, behind the full interceptor chain with tokens from the real auth: no token
// is UNAUTHENTICATED, orders are placed for yourself (admins for anyone), and each user reads
// only its own orders. Without the chain the handlers fail closed.
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { ordersV1 } from '@grpc-patterns/proto';
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { bearer, cleanUp, orderOf, orderRequest, placeOrder, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth, type TestUser } from '../test/harness.js';

const getOrder = (client: ordersV1.OrderServiceClient, orderId: string, metadata?: grpc.Metadata) =>
  unaryCall(client.getOrder.bind(client), ordersV1.GetOrderRequest.fromPartial({ orderId }), { metadata });
const listOrders = (client: ordersV1.OrderServiceClient, request: Partial<ordersV1.ListOrdersRequest>, metadata?: grpc.Metadata) =>
  unaryCall(client.listOrders.bind(client), ordersV1.ListOrdersRequest.fromPartial(request), { metadata });
const statusOf = (error: grpc.ServiceError) => [grpc.status[error.code], error.details];

describe('authorization', () => {
  let auth: RealAuth;
  let orders: OrdersUnderTest;
  let alice: TestUser;
  let bob: TestUser;
  let admin: TestUser;
  /** An order of alice's. */
  let aliceOrder: ordersV1.Order;

  beforeAll(async () => {
    auth = await startRealAuth();
    orders = await startOrders({ authTarget: auth.target });
    [alice, bob, admin] = await Promise.all([auth.registerUser('alice'), auth.registerUser('bob'), auth.admin()]);
    aliceOrder = orderOf(await placeOrder(orders.clientFor(alice), orderRequest(alice.id)));
  });
  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await cleanUp();
  });

  describe('authentication (the chain)', () => {
    it('answers UNAUTHENTICATED to every method without a token, and stores nothing', async () => {
      const request = orderRequest(alice.id);
      for (const error of [
        await expectStatus(placeOrder(orders.client, request)),
        await expectStatus(getOrder(orders.client, aliceOrder.id)),
        await expectStatus(listOrders(orders.client, { userId: alice.id })),
      ]) {
        expect(statusOf(error)).toEqual(['UNAUTHENTICATED', 'missing bearer token']);
      }
      expect(await orders.service.store.findKey({ principal: alice.id, requestId: request.requestId }, new Date())).toBeUndefined();
    });

    it('answers UNAUTHENTICATED to a token that does not verify, before validating the request', async () => {
      const forged = `${alice.accessToken.slice(0, -4)}AAAA`;
      const error = await expectStatus(placeOrder(orders.client, orderRequest(alice.id, { requestId: '' }), { metadata: bearer(forged) }));
      expect(statusOf(error)).toEqual(['UNAUTHENTICATED', 'invalid token']);
    });
  });

  describe('PlaceOrder', () => {
    it("answers PERMISSION_DENIED for another user's user_id, and asks auth nothing", async () => {
      const request = orderRequest(alice.id);
      const error = await expectStatus(placeOrder(orders.clientFor(bob), request));
      expect(statusOf(error)).toEqual(['PERMISSION_DENIED', 'orders can only be placed for yourself']);
      expect(await orders.service.store.findKey({ principal: bob.id, requestId: request.requestId }, new Date())).toBeUndefined();
    });

    it('does not let a replay through for another user either', async () => {
      const request = orderRequest(alice.id);
      await placeOrder(orders.clientFor(alice), request);
      const error = await expectStatus(placeOrder(orders.clientFor(bob), request));
      expect(statusOf(error)).toEqual(['PERMISSION_DENIED', 'orders can only be placed for yourself']);
    });

    it('validates before it authorizes: a bad request for another user is INVALID_ARGUMENT', async () => {
      const error = await expectStatus(placeOrder(orders.clientFor(bob), orderRequest(alice.id, { currency: 'eur' })));
      expect(statusOf(error)).toEqual(['INVALID_ARGUMENT', 'currency: must be 3 upper-case letters (ISO 4217), or empty for USD']);
      expect(decodeStatusDetails(error)?.fieldViolations).toEqual([{ field: 'currency', description: 'must be 3 upper-case letters (ISO 4217), or empty for USD' }]);
    });

    it('lets an admin place an order for another user; the order is that user’s', async () => {
      const placed = orderOf(await placeOrder(orders.clientFor(admin), orderRequest(bob.id)));
      expect(placed.userId).toBe(bob.id);
      expect(orders.logs.filter((l) => l.msg === 'order placed' && l.orderId === placed.id).map((l) => [l.userId, l.placedBy])).toEqual([[bob.id, admin.id]]);
      expect((await getOrder(orders.clientFor(bob), placed.id)).order).toEqual(placed);
    });
  });

  describe('GetOrder', () => {
    it("answers NOT_FOUND for another user's order, exactly as for a missing one", async () => {
      const theirs = await expectStatus(getOrder(orders.clientFor(bob), aliceOrder.id));
      expect(statusOf(theirs)).toEqual(['NOT_FOUND', `order ${aliceOrder.id} not found`]);
      const missing = '00000000-0000-4000-8000-000000000000';
      const none = await expectStatus(getOrder(orders.clientFor(bob), missing));
      expect(statusOf(none)).toEqual(['NOT_FOUND', `order ${missing} not found`]);
      expect((await getOrder(orders.clientFor(alice), aliceOrder.id)).order).toEqual(aliceOrder);
    });

    it('reads only your own orders, admin or not', async () => {
      const error = await expectStatus(getOrder(orders.clientFor(admin), aliceOrder.id));
      expect(statusOf(error)).toEqual(['NOT_FOUND', `order ${aliceOrder.id} not found`]);
    });
  });

  describe('ListOrders', () => {
    it("answers PERMISSION_DENIED for another user's orders, admin or not", async () => {
      for (const caller of [bob, admin]) {
        const error = await expectStatus(listOrders(orders.clientFor(caller), { userId: alice.id }));
        expect(statusOf(error)).toEqual(['PERMISSION_DENIED', 'orders can only be listed for yourself']);
      }
      const own = await listOrders(orders.clientFor(alice), { userId: alice.id, pageSize: 100 });
      expect(own.orders.map((o) => o.id)).toContain(aliceOrder.id);
    });
  });
});

describe('a server without the interceptor chain', () => {
  let auth: RealAuth;
  let orders: OrdersUnderTest;
  beforeAll(async () => {
    auth = await startRealAuth();
    orders = await startOrders({ authTarget: auth.target, chain: false });
  });
  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await cleanUp();
  });

  it('fails closed: UNAUTHENTICATED "authentication required" even with a valid token', async () => {
    const user = await auth.registerUser('unguarded');
    const client = orders.clientFor(user);
    for (const error of [
      await expectStatus(placeOrder(client, orderRequest(user.id))),
      await expectStatus(getOrder(client, '00000000-0000-4000-8000-000000000000')),
      await expectStatus(listOrders(client, { userId: user.id })),
    ]) {
      expect(statusOf(error)).toEqual(['UNAUTHENTICATED', 'authentication required']);
    }
    expect(await orders.service.store.count()).toBe(0);
  });
});
