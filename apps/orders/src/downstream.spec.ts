// The downstream call to auth.GetUser: the caller's token, deadline and cancellation travel
// with it, and auth's failures reach the orders caller as orders statuses (never as INTERNAL).
import { GrpcError, unary, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { expectStatus, freePort, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { randomUUID } from 'node:crypto';
import { cleanUp, orderRequest, placeOrder, replayed, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth, type TestUser } from '../test/harness.js';

// The real auth (its own interceptor chain: GetUser needs a token) for logins and token keys.
let auth: RealAuth;
beforeAll(async () => {
  auth = await startRealAuth();
});
afterAll(async () => {
  await auth?.stop();
  await cleanUp();
});

describe('PlaceOrder with the real auth: token relay and deadline', () => {
  let orders: OrdersUnderTest;
  beforeAll(async () => {
    orders = await startOrders({ authTarget: auth.target });
  });
  afterAll(async () => {
    await orders?.close();
  });

  it("relays the caller's token to auth.GetUser, which refuses calls without one", async () => {
    const user = await auth.registerUser('relay');
    const authClient = new authV1.AuthServiceClient(auth.target, grpc.credentials.createInsecure());
    try {
      const direct = await expectStatus(unaryCall(authClient.getUser.bind(authClient), authV1.GetUserRequest.fromPartial({ userId: user.id })));
      expect([grpc.status[direct.code], direct.details]).toEqual(['UNAUTHENTICATED', 'missing bearer token']);
    } finally {
      authClient.close();
    }
    // Orders' own GetUser call therefore only succeeds because it carries the caller's token.
    const result = await placeOrder(orders.clientFor(user), orderRequest(user.id));
    expect(replayed(result)).toBeUndefined();
    expect(await orders.service.store.count(user.id)).toBe(1);
  });

  it('fails with DEADLINE_EXCEEDED under a tiny deadline and creates no order', async () => {
    const user = await auth.registerUser('hurried');
    const client = orders.clientFor(user);
    const request = orderRequest(user.id);
    const error = await expectStatus(placeOrder(client, request, { deadline: Date.now() + 1 }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Had the timed-out call stored the order, this retry would be a replay.
    const retry = await placeOrder(client, request);
    expect(replayed(retry)).toBeUndefined();
    expect(await orders.service.store.count(user.id)).toBe(1);
  });
});

/** What a scripted AuthService saw of each GetUser call. */
interface SeenCall {
  userId: string;
  /** The `authorization` metadata it carried. */
  authorization: unknown[];
  deadline: number;
  cancelled: Promise<void>;
}

// The scripted auth answers GetUser only; token keys come from the real auth. The caller is an
// admin, so it may place orders for the random user ids these tests use.
describe('PlaceOrder with a scripted auth', () => {
  let fakeAuth: TestServer;
  let orders: OrdersUnderTest;
  let admin: TestUser;
  let client: ordersV1.OrderServiceClient;
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
                authorization: call.metadata.get('authorization'),
                deadline: deadline instanceof Date ? deadline.getTime() : deadline,
                cancelled: new Promise((resolve) => (call.cancelled ? resolve() : call.once('cancelled', () => resolve()))),
              });
              return answer(call);
            }),
          } satisfies authV1.AuthServiceServer,
        },
      ],
    });
    orders = await startOrders({ authTarget: fakeAuth.target, keysTarget: auth.target });
    admin = await auth.admin();
    client = orders.clientFor(admin);
  });
  afterEach(() => {
    seen.length = 0;
    answer = () => new Promise<never>(() => undefined);
  });
  afterAll(async () => {
    await orders?.close();
    await fakeAuth?.close();
  });

  it("passes the caller's access token on, as it came", async () => {
    answer = async (call) => authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId } });
    await placeOrder(client, orderRequest(randomUUID()));
    expect(seen.map((c) => c.authorization)).toEqual([[`Bearer ${admin.accessToken}`]]);
  });

  it('passes the caller deadline to auth and cancels auth when it expires; no order is created', async () => {
    const userId = randomUUID();
    const request = orderRequest(userId);
    const deadline = Date.now() + 300;
    const error = await expectStatus(placeOrder(client, request, { deadline }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(seen).toHaveLength(1);
    // grpc-timeout is relative: each hop adds its transit and event-loop delay to the absolute
    // deadline, which on a loaded machine reaches tens of ms. The allowance stays far below what
    // no propagation would give (the client's default deadline, 5 s, or none at all).
    expect(seen[0].deadline).toBeLessThanOrEqual(deadline + 1_000);
    await seen[0].cancelled;

    answer = async (call) => authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId, username: 'scripted' } });
    const retry = await placeOrder(client, request);
    expect(replayed(retry)).toBeUndefined();
    expect(await orders.service.store.count(userId)).toBe(1);
  });

  it('cancels the auth call when the orders caller cancels', async () => {
    const call = client.placeOrder(orderRequest(randomUUID()), () => undefined);
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
    ['UNAUTHENTICATED', 'UNAUTHENTICATED', () => "caller's token was rejected by auth"],
    ['PERMISSION_DENIED', 'PERMISSION_DENIED', (id: string) => `auth does not let the caller look up user ${id}`],
    ['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED', (id: string) => `auth is rate limiting lookups of user ${id}; retry later`],
    ['DATA_LOSS', 'INTERNAL', () => 'internal error'],
  ] as const)('maps auth %s to orders %s without passing auth\'s message on', async (authCode, ordersCode, message) => {
    answer = async () => {
      throw new GrpcError(grpc.status[authCode], 'from auth: secret detail');
    };
    const userId = randomUUID();
    const error = await expectStatus(placeOrder(client, orderRequest(userId)));
    expect([grpc.status[error.code], error.details]).toEqual([ordersCode, message(userId)]);
    expect(await orders.service.store.count(userId)).toBe(0);
    if (ordersCode === 'INTERNAL') {
      // The detail goes to the log only.
      expect(orders.server.logs.filter((l) => l.msg === 'unexpected error in handler' && JSON.stringify(l).includes(`DATA_LOSS from auth: secret detail`))).toHaveLength(1);
    }
  });

  it('retries GetUser on UNAVAILABLE (service config retryPolicy), then succeeds', async () => {
    let calls = 0;
    answer = async (call) => {
      if (++calls < 3) throw new GrpcError(grpc.status.UNAVAILABLE, 'try again');
      return authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId } });
    };
    const { response } = await placeOrder(client, orderRequest(randomUUID()));
    expect(response.order?.id).toBeDefined();
    expect(calls).toBe(3);
  });
});

describe('PlaceOrder with auth down', () => {
  it('answers UNAVAILABLE naming auth, not INTERNAL', async () => {
    // Token keys were fetched while auth was up (the real auth here); GetUser goes nowhere.
    const orders = await startOrders({ authTarget: `ipv4:127.0.0.1:${await freePort()}`, keysTarget: auth.target });
    try {
      const userId = randomUUID();
      const error = await expectStatus(placeOrder(orders.clientFor(await auth.admin()), orderRequest(userId)));
      expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, `auth service unavailable: cannot check user ${userId}`]);
      expect(await orders.service.store.count()).toBe(0);
    } finally {
      await orders.close();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}
