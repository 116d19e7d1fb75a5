// The downstream call to auth.GetUser: the caller's deadline and cancellation travel with it,
// and auth's failures reach the orders caller as orders statuses (never as INTERNAL).
import { GrpcError, unary } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { expectStatus, freePort, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { randomUUID } from 'node:crypto';
import { cleanUp, orderRequest, placeOrder, replayed, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth } from '../test/harness.js';

describe('PlaceOrder with the real auth: deadline', () => {
  let auth: RealAuth;
  let orders: OrdersUnderTest;
  beforeAll(async () => {
    auth = await startRealAuth();
    orders = await startOrders({ authTarget: auth.target });
  });
  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await cleanUp();
  });

  it('fails with DEADLINE_EXCEEDED under a tiny deadline and creates no order', async () => {
    const userId = await auth.registerUser('hurried');
    const request = orderRequest(userId);
    const error = await expectStatus(placeOrder(orders.client, request, { deadline: Date.now() + 1 }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Had the timed-out call stored the order, this retry would be a replay.
    const retry = await placeOrder(orders.client, request);
    expect(replayed(retry)).toBeUndefined();
    expect(await orders.service.store.count(userId)).toBe(1);
  });
});

/** What a scripted AuthService saw of each GetUser call. */
interface SeenCall {
  userId: string;
  deadline: number;
  cancelled: Promise<void>;
}

describe('PlaceOrder with a scripted auth', () => {
  let fakeAuth: TestServer;
  let orders: OrdersUnderTest;
  const seen: SeenCall[] = [];
  /** How GetUser answers: by default it never answers (until the call is cancelled). */
  let answer: (call: grpc.ServerUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse>) => Promise<authV1.GetUserResponse> = () => new Promise<never>(() => undefined);

  beforeAll(async () => {
    const notUsed = unary(async () => {
      throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
    });
    fakeAuth = await startTestServer({
      services: [
        {
          name: 'auth.v1.AuthService',
          definition: authV1.AuthServiceService,
          implementation: {
            register: notUsed,
            login: notUsed,
            refresh: notUsed,
            getPublicKeys: notUsed,
            getUser: unary(async (call: grpc.ServerUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse>) => {
              const deadline = call.getDeadline();
              seen.push({
                userId: call.request.userId,
                deadline: deadline instanceof Date ? deadline.getTime() : deadline,
                cancelled: new Promise((resolve) => (call.cancelled ? resolve() : call.once('cancelled', () => resolve()))),
              });
              return answer(call);
            }),
          } satisfies authV1.AuthServiceServer,
        },
      ],
    });
    orders = await startOrders({ authTarget: fakeAuth.target });
  });
  afterEach(() => {
    seen.length = 0;
    answer = () => new Promise<never>(() => undefined);
  });
  afterAll(async () => {
    await orders?.close();
    await fakeAuth?.close();
    await cleanUp();
  });

  it('passes the caller deadline to auth and cancels auth when it expires; no order is created', async () => {
    const userId = randomUUID();
    const request = orderRequest(userId);
    const deadline = Date.now() + 300;
    const error = await expectStatus(placeOrder(orders.client, request, { deadline }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(seen).toHaveLength(1);
    // grpc-timeout is relative and rounded up to whole milliseconds, hence the small allowance.
    expect(seen[0].deadline).toBeLessThanOrEqual(deadline + 20);
    await seen[0].cancelled;

    answer = async (call) => authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId, username: 'scripted' } });
    const retry = await placeOrder(orders.client, request);
    expect(replayed(retry)).toBeUndefined();
    expect(await orders.service.store.count(userId)).toBe(1);
  });

  it('cancels the auth call when the orders caller cancels', async () => {
    const call = orders.client.placeOrder(orderRequest(randomUUID()), () => undefined);
    await waitFor(() => seen.length === 1);
    call.cancel();
    await seen[0].cancelled;
    expect(await orders.service.store.count(seen[0].userId)).toBe(0);
  });

  it.each([
    ['UNAVAILABLE', 'UNAVAILABLE', (id: string) => `auth service unavailable: cannot check user ${id}`],
    ['DEADLINE_EXCEEDED', 'DEADLINE_EXCEEDED', (id: string) => `deadline exceeded while checking user ${id} with auth`],
    ['NOT_FOUND', 'FAILED_PRECONDITION', (id: string) => `user ${id} does not exist`],
    ['INVALID_ARGUMENT', 'FAILED_PRECONDITION', (id: string) => `user ${id} does not exist`],
    ['PERMISSION_DENIED', 'INTERNAL', () => 'internal error'],
  ] as const)('maps auth %s to orders %s without passing auth\'s message on', async (authCode, ordersCode, message) => {
    answer = async () => {
      throw new GrpcError(grpc.status[authCode], 'from auth: secret detail');
    };
    const userId = randomUUID();
    const error = await expectStatus(placeOrder(orders.client, orderRequest(userId)));
    expect([grpc.status[error.code], error.details]).toEqual([ordersCode, message(userId)]);
    expect(await orders.service.store.count(userId)).toBe(0);
    if (ordersCode === 'INTERNAL') {
      // The detail goes to the log only.
      expect(orders.server.logs.filter((l) => l.msg === 'unexpected error in handler' && JSON.stringify(l).includes(`PERMISSION_DENIED from auth: secret detail`))).toHaveLength(1);
    }
  });

  it('retries GetUser on UNAVAILABLE (service config retryPolicy), then succeeds', async () => {
    let calls = 0;
    answer = async (call) => {
      if (++calls < 3) throw new GrpcError(grpc.status.UNAVAILABLE, 'try again');
      return authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId } });
    };
    const { response } = await placeOrder(orders.client, orderRequest(randomUUID()));
    expect(response.order?.id).toBeDefined();
    expect(calls).toBe(3);
  });
});

describe('PlaceOrder with auth down', () => {
  it('answers UNAVAILABLE naming auth, not INTERNAL', async () => {
    const orders = await startOrders({ authTarget: `ipv4:127.0.0.1:${await freePort()}` });
    try {
      const userId = randomUUID();
      const error = await expectStatus(placeOrder(orders.client, orderRequest(userId)));
      expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, `auth service unavailable: cannot check user ${userId}`]);
      expect(await orders.service.store.count()).toBe(0);
    } finally {
      await orders.close();
      await cleanUp();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}
