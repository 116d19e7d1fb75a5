// Property-based: every method of every service, driven by fast-check with generated requests
// (valid and invalid field values), and with random bytes as the encoded message. Property:
// each call ends with a status from the method's allowed set (never UNKNOWN, never INTERNAL
// other than grpc-js' own "Error deserializing request" for bytes that are not the message),
// and afterwards every service still runs, answers health and has logged no crash line (no
// error-level line but the per-call one, no unhandled rejection: see crashLines in stack.ts).
//
// Runs per method: PROPERTY_RUNS (default below); RELIABILITY_SOAK=1 multiplies them by 20.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import fc from 'fast-check';
import { expectAlive, SERVICE_NAMES, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type ServiceName, type Stack, type StackUser } from './stack.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`property suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

const SOAK = process.env.RELIABILITY_SOAK === '1';
/** Generated calls per method and per kind (structured, random bytes). */
const PROPERTY_RUNS = Number(process.env.PROPERTY_RUNS ?? 50) * (SOAK ? 20 : 1);
/**
 * Methods whose valid calls are expensive by design get a fifth of the runs: Register and
 * Login hash a password with scrypt, the analytics streams scan up to 3M rows.
 */
const SLOW_RUNS = Math.max(10, Math.floor(PROPERTY_RUNS / 5));
const CALL_DEADLINE_MS = 10_000;
/** Server-streaming calls are cancelled by the client after this many messages (a full scan is 3M rows). */
const STREAM_MESSAGES = 2;

type Kind = 'unary' | 'client_stream' | 'server_stream' | 'bidi';

/** Codes any method may end with for any input: the client's own deadline and cancel, rate limits. */
const ALWAYS_ALLOWED = ['OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED', 'CANCELLED'];

interface MethodUnderTest {
  service: ServiceName;
  path: string;
  kind: Kind;
  /** Codes allowed besides {@link ALWAYS_ALLOWED}. */
  allowed: string[];
  runs: number;
  /** Generated requests, already encoded (one message, or the messages of a stream). */
  requests: (user: StackUser) => fc.Arbitrary<Uint8Array[]>;
}

// Field values: the valid shapes the services document, mixed with anything.
const anyString = fc.string({ unit: 'binary', maxLength: 80 });
const maybe = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>) => fc.oneof({ weight: 2, arbitrary: valid }, { weight: 1, arbitrary: other });
const username = maybe(fc.stringMatching(/^[a-z0-9_.-]{3,32}$/), anyString);
const password = maybe(fc.string({ minLength: 12, maxLength: 64 }), anyString);
const uuid = fc.uuid();
const validAirport = fc.constantFrom('SFO', 'LAX', 'ORD', 'JFK', 'SEA');
const airport = maybe(fc.oneof(validAirport, fc.constant('')), fc.string({ maxLength: 6 }));
const validDay = fc.date({ min: new Date('2001-01-01'), max: new Date('2001-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
const day = maybe(validDay, fc.oneof(fc.constant(''), anyString));
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const small = (max: number) => maybe(fc.integer({ min: 0, max }), uint32);
const int64String = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const one = <T>(encode: (m: T) => Uint8Array) => (a: fc.Arbitrary<T>) => a.map((m) => [encode(m)]);

function methods(): MethodUnderTest[] {
  const auth = (name: string, allowed: string[], runs: number, requests: MethodUnderTest['requests']): MethodUnderTest => ({ service: 'auth', path: `/auth.v1.AuthService/${name}`, kind: 'unary', allowed, runs, requests });
  return [
    auth('Register', ['ALREADY_EXISTS'], SLOW_RUNS, () => one((m: authV1.RegisterRequest) => authV1.RegisterRequest.encode(m).finish())(fc.record({ username, password, displayName: anyString }))),
    auth('Login', ['UNAUTHENTICATED'], SLOW_RUNS, (u) => one((m: authV1.LoginRequest) => authV1.LoginRequest.encode(m).finish())(fc.record({ username: maybe(fc.constant(u.username), username), password }))),
    auth('Refresh', ['UNAUTHENTICATED'], PROPERTY_RUNS, (u) => one((m: authV1.RefreshRequest) => authV1.RefreshRequest.encode(m).finish())(fc.record({ refreshToken: maybe(fc.constant(u.accessToken), anyString) }))),
    auth('GetUser', ['NOT_FOUND', 'UNAUTHENTICATED', 'PERMISSION_DENIED'], PROPERTY_RUNS, (u) => one((m: authV1.GetUserRequest) => authV1.GetUserRequest.encode(m).finish())(fc.record({ userId: fc.oneof(fc.constant(u.id), uuid, anyString) }))),
    auth('GetPublicKeys', [], PROPERTY_RUNS, () => fc.constant([authV1.GetPublicKeysRequest.encode({}).finish()])),
    {
      service: 'analytics',
      path: '/analytics.v1.AnalyticsService/StreamFlights',
      kind: 'server_stream',
      allowed: ['FAILED_PRECONDITION'],
      runs: SLOW_RUNS,
      requests: () =>
        one((m: analyticsV1.StreamFlightsRequest) => analyticsV1.StreamFlightsRequest.encode(m).finish())(
          fc.oneof(
            fc.record({ origin: validAirport, destination: fc.constant(''), fromDate: validDay, toDate: fc.constant(''), minDelayMinutes: fc.option(fc.integer({ min: -60, max: 600 }), { nil: undefined }), chunkSize: fc.integer({ min: 1, max: 50 }), limit: fc.integer({ min: 1, max: 20 }) }),
            fc.record({ origin: airport, destination: airport, fromDate: day, toDate: day, minDelayMinutes: fc.option(int32, { nil: undefined }), chunkSize: small(50), limit: maybe(fc.integer({ min: 1, max: 20 }), uint32) }),
          ),
        ),
    },
    {
      service: 'analytics',
      path: '/analytics.v1.AnalyticsService/StreamDelayStats',
      kind: 'server_stream',
      allowed: ['FAILED_PRECONDITION'],
      runs: SLOW_RUNS,
      requests: () =>
        one((m: analyticsV1.StreamDelayStatsRequest) => analyticsV1.StreamDelayStatsRequest.encode(m).finish())(
          fc.oneof(
            fc.record({ groupBy: fc.integer({ min: 1, max: 3 }), window: fc.integer({ min: 1, max: 2 }), origin: validAirport, destination: fc.constant(''), fromDate: fc.constant(''), toDate: fc.constant(''), minFlights: fc.integer({ min: 0, max: 100 }) }),
            fc.record({ groupBy: fc.integer({ min: -2, max: 5 }), window: fc.integer({ min: -2, max: 4 }), origin: airport, destination: airport, fromDate: day, toDate: day, minFlights: small(100) }),
          ),
        ),
    },
    {
      service: 'metrics',
      path: '/metrics.v1.MetricsService/UploadMetrics',
      kind: 'client_stream',
      allowed: [],
      runs: PROPERTY_RUNS,
      requests: () =>
        fc.array(
          fc
            .record({
              name: maybe(fc.stringMatching(/^[a-z_][a-z0-9_]{0,30}$/), anyString),
              value: fc.double(),
              time: fc.option(fc.date({ min: new Date(-62135596800000), max: new Date(253402300799000), noInvalidDate: true }), { nil: undefined }),
              labels: fc.dictionary(maybe(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), anyString), anyString, { maxKeys: 4 }),
            })
            .map((m) => metricsV1.UploadMetricsRequest.encode(m).finish()),
          { maxLength: 20 },
        ),
    },
    {
      service: 'chat',
      path: '/chat.v1.ChatService/Chat',
      kind: 'bidi',
      allowed: ['ALREADY_EXISTS', 'FAILED_PRECONDITION'],
      runs: PROPERTY_RUNS,
      requests: () => {
        const join = (room: fc.Arbitrary<string>, user: fc.Arbitrary<string>) => fc.record({ room, user }).map((j) => ({ action: { $case: 'join' as const, join: j } }));
        const send = (text: fc.Arbitrary<string>) => fc.record({ text }).map((m) => ({ action: { $case: 'send' as const, send: m } }));
        const encode = (m: chatV1.ChatRequest) => chatV1.ChatRequest.encode(m).finish();
        // A well-formed session (a join, then messages), or any sequence of requests.
        const session = fc.tuple(join(fc.stringMatching(/^[a-z0-9]{1,8}$/), fc.string({ minLength: 1, maxLength: 20 })), fc.array(send(fc.string({ minLength: 1, maxLength: 100 })), { maxLength: 4 })).map(([j, sends]) => [j, ...sends].map(encode));
        const any = fc.array(fc.oneof(join(maybe(fc.stringMatching(/^[a-z0-9]{1,8}$/), anyString), anyString), send(anyString), fc.constant({ action: undefined })).map(encode), { maxLength: 5 });
        return fc.oneof(session, any);
      },
    },
    {
      service: 'orders',
      path: '/orders.v1.OrderService/PlaceOrder',
      kind: 'unary',
      allowed: ['FAILED_PRECONDITION', 'PERMISSION_DENIED', 'ABORTED', 'NOT_FOUND'],
      runs: PROPERTY_RUNS,
      requests: (u) => {
        const sku = fc.stringMatching(/^[A-Z0-9-]{1,16}$/);
        const valid = fc.record({
          requestId: uuid,
          userId: fc.constant(u.id),
          items: fc.array(fc.record({ sku, quantity: fc.integer({ min: 1, max: 10 }), unitPriceCents: fc.integer({ min: 0, max: 100_000 }).map(String) }), { minLength: 1, maxLength: 3 }),
          currency: fc.constantFrom('USD', ''),
        });
        const mixed = fc.record({
          requestId: maybe(uuid, anyString),
          userId: fc.oneof(fc.constant(u.id), uuid, anyString),
          items: fc.array(fc.record({ sku: maybe(sku, anyString), quantity: maybe(fc.integer({ min: 1, max: 10 }), uint32), unitPriceCents: maybe(fc.integer({ min: 0, max: 100_000 }).map(String), int64String) }), { maxLength: 4 }),
          currency: maybe(fc.constantFrom('USD', 'EUR'), anyString),
        });
        return one((m: ordersV1.PlaceOrderRequest) => ordersV1.PlaceOrderRequest.encode(m).finish())(fc.oneof(valid, mixed));
      },
    },
    {
      service: 'orders',
      path: '/orders.v1.OrderService/GetOrder',
      kind: 'unary',
      allowed: ['NOT_FOUND'],
      runs: PROPERTY_RUNS,
      requests: () => one((m: ordersV1.GetOrderRequest) => ordersV1.GetOrderRequest.encode(m).finish())(fc.record({ orderId: maybe(uuid, anyString) })),
    },
    {
      service: 'orders',
      path: '/orders.v1.OrderService/ListOrders',
      kind: 'unary',
      allowed: ['PERMISSION_DENIED', 'NOT_FOUND'],
      runs: PROPERTY_RUNS,
      requests: (u) =>
        one((m: ordersV1.ListOrdersRequest) => ordersV1.ListOrdersRequest.encode(m).finish())(
          fc.oneof(
            fc.record({ userId: fc.constant(u.id), pageSize: fc.integer({ min: 0, max: 100 }), pageToken: fc.constant('') }),
            fc.record({ userId: fc.oneof(fc.constant(u.id), uuid, anyString), pageSize: small(100), pageToken: maybe(fc.constant(''), anyString) }),
          ),
        ),
    },
  ];
}

/** One generic client (one channel) per target, reused by every call of the suite. */
const clients = new Map<string, grpc.Client>();

/** The status a call ended with: "CODE: details". */
function callRaw(target: string, kind: Kind, path: string, messages: Uint8Array[], metadata: grpc.Metadata): Promise<string> {
  let client = clients.get(target);
  if (!client) {
    client = new grpc.Client(target, grpc.credentials.createInsecure());
    clients.set(target, client);
  }
  const identity = (b: Buffer) => b;
  const options = { deadline: Date.now() + CALL_DEADLINE_MS };
  return new Promise<string>((resolve) => {
    const done = (s: grpc.StatusObject) => {
      resolve(`${grpc.status[s.code]}: ${s.details}`);
    };
    const first = Buffer.from(messages[0] ?? new Uint8Array());
    if (kind === 'unary') {
      client.makeUnaryRequest(path, identity, identity, first, metadata, options, () => undefined).on('status', done);
    } else if (kind === 'server_stream') {
      const call = client.makeServerStreamRequest(path, identity, identity, first, metadata, options);
      let received = 0;
      call.on('data', () => {
        if (++received === STREAM_MESSAGES) call.cancel();
      });
      call.on('error', () => undefined);
      call.on('status', done);
    } else {
      const call = kind === 'client_stream' ? client.makeClientStreamRequest(path, identity, identity, metadata, options, () => undefined) : client.makeBidiStreamRequest(path, identity, identity, metadata, options);
      if ('on' in call) call.on('error', () => undefined);
      if (kind === 'bidi') (call as grpc.ClientDuplexStream<Buffer, Buffer>).on('data', () => undefined);
      call.on('status', done);
      for (const m of messages) call.write(Buffer.from(m));
      call.end();
    }
  });
}

(run ? describe : describe.skip)(`property-based: generated requests to every method (${PROPERTY_RUNS} runs per method and kind${SOAK ? ', soak' : ''})`, () => {
  let stack: Stack;
  /** Several users: the rate limit is per user and method. */
  let users: StackUser[];

  beforeAll(async () => {
    stack = await startStack(['analytics', 'metrics', 'chat', 'orders']);
    users = await Promise.all([1, 2, 3, 4].map((i) => stack.user(`prop${i}`)));
  }, STACK_START_TIMEOUT_MS);
  /** The statuses each method ended with, printed at the end: what the generators reached. */
  const outcomes: Record<string, Record<string, number>> = {};
  afterAll(async () => {
    for (const client of clients.values()) client.close();
    closeAllChannels();
    await stack?.stop();
    console.info(`statuses reached per method:\n${Object.entries(outcomes).map(([path, seen]) => `  ${path}: ${JSON.stringify(seen)}`).join('\n')}`);
  });

  for (const method of methods()) {
    it(`${method.path}: generated requests and random bytes end with an allowed status`, async () => {
      const target = stack.get(method.service).target;
      const allowed = new Set([...ALWAYS_ALLOWED, ...method.allowed]);
      let n = 0;
      const seen: Record<string, number> = {};
      outcomes[method.path] = seen;
      const check = async (messages: Uint8Array[], rawBytes: boolean) => {
        const user = users[n++ % users.length] as StackUser;
        const status = await callRaw(target, method.kind, method.path, messages, user.metadata());
        const code = status.slice(0, status.indexOf(':'));
        const key = rawBytes ? `bytes ${code}` : code;
        seen[key] = (seen[key] ?? 0) + 1;
        const ok = allowed.has(code) || (rawBytes && status === 'INTERNAL: Error deserializing request');
        if (!ok) throw new Error(`${method.path} ended with ${status}`);
      };
      const randomMessage = fc.uint8Array({ maxLength: 256 });
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...users).chain((u) => method.requests(u)), (messages) => check(messages, false)),
        { numRuns: method.runs },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(randomMessage, { minLength: 1, maxLength: method.kind === 'unary' || method.kind === 'server_stream' ? 1 : 4 }), (messages) => check(messages, true)),
        { numRuns: method.runs },
      );
      // More than one outcome: the generators reach past the first check (validation, auth).
      expect(Object.keys(seen).length).toBeGreaterThan(1);
      await expectAlive(stack.get(method.service));
    });
  }

  it('every service is still up with no crash line in its log', async () => {
    for (const name of SERVICE_NAMES) await expectAlive(stack.get(name));
  });
});
