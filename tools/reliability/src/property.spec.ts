// Property-based: every method of every service, driven by fast-check with generated requests
// (valid and invalid field values), and with random bytes as the encoded message. Property:
// each call ends with a status from the method's allowed set (never UNKNOWN, never INTERNAL
// other than grpc-js' own "Error deserializing request" for bytes that are not the message),
// and afterwards every service still runs, answers health and has logged no crash line (no
// error-level line but the per-call one, no unhandled rejection: see crashLines in stack.ts).
//
// The generators reach what a hostile client sends (red-team finding 6 of issue 17): NUL bytes
// and other control characters spliced into otherwise valid values (so they get past the
// length and shape checks), lone surrogates (a client's UTF-8 encoder sends U+FFFD), NaN,
// ±Infinity, -0, ±2^63, Timestamps no Date can hold (seconds ±2^63, year 0, after 9999, nanos
// outside 0..999,999,999: encoded by hand, see wire.ts) and ListOrders page tokens crafted by
// the client. Orders runs on PGlite and, with DATABASE_URL, once more on PostgreSQL.
//
// Runs per method: PROPERTY_RUNS (default below); RELIABILITY_SOAK=1 multiplies them by 20.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { createTestDatabase, describeRequiring, grpc, spawnService, type ServiceProcess, type TestDatabase } from '@grpc-patterns/testing';
import fc from 'fast-check';
import { expectAlive, SERVICE_NAMES, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type ServiceName, type Stack, type StackUser } from './stack.js';
import { lengthDelimited, timestampBytes } from './wire.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`property suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

const SOAK = process.env.RELIABILITY_SOAK === '1';
const DATABASE_URL = process.env.DATABASE_URL;
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
/**
 * Characters a store, a log or a terminal chokes on: NUL (PostgreSQL cannot store it in text;
 * weighted up, it is the one that reached the store), other C0/C1 controls, DEL, lone
 * surrogates, U+FFFD, U+2028, a BOM.
 */
const hostileChar = fc.oneof(
  { weight: 2, arbitrary: fc.constant('\u0000') },
  { weight: 1, arbitrary: fc.constantFrom('\u0001', '\t', '\n', '\u001b', '\u007f', '\u0085', '\u009f', '\ud800', '\udfff', '\ufffd', '\u2028', '\ufeff') },
);
/** A valid value with 1-3 hostile characters spliced in: it passes the length and shape checks a random string fails first. */
const spliced = (valid: fc.Arbitrary<string>) =>
  fc.tuple(valid, fc.array(fc.tuple(fc.nat(), hostileChar), { minLength: 1, maxLength: 3 })).map(([v, inserts]) =>
    inserts.reduce((text, [at, c]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + c + text.slice(i);
    }, v),
  );
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: fc.oneof(hostileChar, fc.constantFrom('a', 'Z', '0', '-', '_', '.')), maxLength: 20 }));
const maybe = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>) => fc.oneof({ weight: 2, arbitrary: valid }, { weight: 1, arbitrary: other });
/** A valid string, the same with hostile characters spliced in, or anything. */
const hostile = (valid: fc.Arbitrary<string>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: spliced(valid) }, { weight: 1, arbitrary: anyString });
const username = hostile(fc.stringMatching(/^[a-z0-9_.-]{3,32}$/));
const password = hostile(fc.string({ minLength: 12, maxLength: 64 }));
const uuid = fc.uuid();
const validAirport = fc.constantFrom('SFO', 'LAX', 'ORD', 'JFK', 'SEA');
const airport = maybe(fc.oneof(validAirport, fc.constant('')), fc.oneof(fc.string({ maxLength: 6 }), spliced(validAirport)));
const validDay = fc.date({ min: new Date('2001-01-01'), max: new Date('2001-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
/** Dates a calendar or a Date cannot hold, or that look like one: year 0, after 9999, negative, Feb 30, expanded years. */
const extremeDay = fc.constantFrom('0000-01-01', '0001-01-01', '9999-12-31', '10000-01-01', '-0001-01-01', '+002001-01-01', '2001-02-30', '2001-13-01', '2001-00-10', '275760-09-13', '2001-1-1');
const day = maybe(validDay, fc.oneof(fc.constant(''), anyString, extremeDay, spliced(validDay)));
const int32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, -1, 0));
const uint32 = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1));
const small = (max: number) => maybe(fc.integer({ min: 0, max }), uint32);
const int64String = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n, 2n ** 53n + 1n)).map(String);
/** Doubles that break arithmetic: NaN, ±Infinity, -0, ±2^63, the extremes of the format. */
const extremeDouble = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 2 ** 63, -(2 ** 63), Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON));
/**
 * google.protobuf.Timestamp (seconds, nanos) as a hostile client encodes it: around now, year 1
 * and 0, the end of 9999 and after, ±2^63 s; nanos in range, negative, >= 10^9, ±2^31.
 */
const extremeTimestamp = fc.tuple(
  fc.oneof(
    fc.bigInt({ min: BigInt(Math.floor(Date.now() / 1000) - 3600), max: BigInt(Math.floor(Date.now() / 1000) + 60) }),
    fc.constantFrom(0n, -1n, -62135596800n, -62135596801n, -62167219200n, 253402300799n, 253402300800n, 8640000000000n, 8640000000001n, -(2n ** 63n), 2n ** 63n - 1n),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  ),
  fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(-1, 1_000_000_000, 2 ** 31 - 1, -(2 ** 31))),
);
/**
 * ListOrders page tokens made by the client: base64url JSON in orders' own shape (page-token.ts)
 * with the create_time `t` anywhere (before 1970, after 9999, past what a Date holds, fractions,
 * huge), or any of the other fields wrong.
 */
const craftedPageToken = (userId: string) => {
  const t = fc.oneof(
    fc.integer({ min: 0, max: Date.now() }),
    fc.integer({ min: Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1, max: 8.64e15 + 1 }),
    fc.constantFrom(-1, -62135596800000, 1.5, 8.64e15, Number.MAX_SAFE_INTEGER, 1e300, -1e300),
  );
  const shaped = fc.record({ v: maybe(fc.constant(1), fc.oneof(fc.integer(), fc.string())), u: maybe(fc.constant(userId), fc.oneof(uuid, spliced(fc.constant(userId)))), t, i: maybe(uuid, anyString) });
  return shaped.map((cursor) => Buffer.from(JSON.stringify(cursor)).toString('base64url'));
};
const one = <T>(encode: (m: T) => Uint8Array) => (a: fc.Arbitrary<T>) => a.map((m) => [encode(m)]);

function methods(): MethodUnderTest[] {
  const auth = (name: string, allowed: string[], runs: number, requests: MethodUnderTest['requests']): MethodUnderTest => ({ service: 'auth', path: `/auth.v1.AuthService/${name}`, kind: 'unary', allowed, runs, requests });
  return [
    auth('Register', ['ALREADY_EXISTS'], SLOW_RUNS, () => one((m: authV1.RegisterRequest) => authV1.RegisterRequest.encode(m).finish())(fc.record({ username, password, displayName: hostile(fc.string({ maxLength: 20 })) }))),
    auth('Login', ['UNAUTHENTICATED'], SLOW_RUNS, (u) => one((m: authV1.LoginRequest) => authV1.LoginRequest.encode(m).finish())(fc.record({ username: maybe(fc.constant(u.username), username), password }))),
    auth('Refresh', ['UNAUTHENTICATED'], PROPERTY_RUNS, (u) => one((m: authV1.RefreshRequest) => authV1.RefreshRequest.encode(m).finish())(fc.record({ refreshToken: hostile(fc.constant(u.accessToken)) }))),
    auth('GetUser', ['NOT_FOUND', 'UNAUTHENTICATED', 'PERMISSION_DENIED'], PROPERTY_RUNS, (u) => one((m: authV1.GetUserRequest) => authV1.GetUserRequest.encode(m).finish())(fc.record({ userId: fc.oneof(fc.constant(u.id), uuid, spliced(fc.constant(u.id)), anyString) }))),
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
            fc.record({ origin: validAirport, destination: fc.constant(''), fromDate: validDay, toDate: fc.constant(''), minDelayMinutes: fc.option(fc.integer({ min: -60, max: 600 }), { nil: undefined }), chunkSize: fc.integer({ min: 1, max: 50 }), limit: fc.integer({ min: 1, max: 20 }), progressIntervalMs: fc.constantFrom(0, 100, 1_000) }),
            fc.record({ origin: airport, destination: airport, fromDate: day, toDate: day, minDelayMinutes: fc.option(int32, { nil: undefined }), chunkSize: small(50), limit: maybe(fc.integer({ min: 1, max: 20 }), uint32), progressIntervalMs: maybe(fc.constantFrom(0, 100), uint32) }),
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
      requests: () => {
        const name = hostile(fc.stringMatching(/^[a-z_][a-z0-9_]{0,30}$/));
        const labels = fc.dictionary(hostile(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/)), hostile(fc.string({ maxLength: 10 })), { maxKeys: 4 });
        const encode = (m: metricsV1.UploadMetricsRequest) => metricsV1.UploadMetricsRequest.encode(m).finish();
        // `time` as a Date (what ts-proto can encode), or as hand-made Timestamp bytes.
        const withDate = fc
          .record({ name, value: extremeDouble, time: fc.option(fc.date({ min: new Date(-62135596800000), max: new Date(253402300799000), noInvalidDate: true }), { nil: undefined }), labels })
          .map(encode);
        const withTimestamp = fc
          .tuple(fc.record({ name, value: extremeDouble, time: fc.constant(undefined), labels }), extremeTimestamp)
          .map(([m, [seconds, nanos]]) => Buffer.concat([encode(m), lengthDelimited(3, timestampBytes(seconds, nanos))]));
        return fc.array(fc.oneof(withDate, withTimestamp), { maxLength: 20 });
      },
    },
    {
      service: 'chat',
      path: '/chat.v1.ChatService/Chat',
      kind: 'bidi',
      allowed: ['ALREADY_EXISTS', 'FAILED_PRECONDITION', 'PERMISSION_DENIED'],
      runs: PROPERTY_RUNS,
      requests: (u) => {
        const join = (room: fc.Arbitrary<string>, user: fc.Arbitrary<string>) => fc.record({ room, user }).map((j) => ({ action: { $case: 'join' as const, join: j } }));
        const send = (text: fc.Arbitrary<string>) => fc.record({ text }).map((m) => ({ action: { $case: 'send' as const, send: m } }));
        const encode = (m: chatV1.ChatRequest) => chatV1.ChatRequest.encode(m).finish();
        const room = fc.stringMatching(/^[a-z0-9]{1,8}$/);
        // The member: empty or the caller's own id (CHAT_IDENTITY=token, the default), or another name.
        const member = fc.oneof(fc.constant(''), fc.constant(u.id), fc.string({ minLength: 1, maxLength: 20 }));
        // A well-formed session (a join, then messages, hostile text included), or any sequence of requests.
        const session = fc.tuple(join(room, member), fc.array(send(hostile(fc.string({ minLength: 1, maxLength: 100 }))), { maxLength: 4 })).map(([j, sends]) => [j, ...sends].map(encode));
        const any = fc.array(fc.oneof(join(hostile(room), fc.oneof(member, spliced(member), anyString)), send(anyString), fc.constant({ action: undefined })).map(encode), { maxLength: 5 });
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
        // Valid but for hostile characters in a sku or the user_id: what reaches the store.
        const almostValid = fc.record({
          requestId: uuid,
          userId: maybe(fc.constant(u.id), spliced(fc.constant(u.id))),
          items: fc.array(fc.record({ sku: maybe(sku, spliced(sku)), quantity: fc.integer({ min: 1, max: 10 }), unitPriceCents: fc.integer({ min: 0, max: 100_000 }).map(String) }), { minLength: 1, maxLength: 3 }),
          currency: fc.constantFrom('USD', ''),
        });
        const mixed = fc.record({
          requestId: maybe(uuid, anyString),
          userId: fc.oneof(fc.constant(u.id), uuid, anyString),
          items: fc.array(fc.record({ sku: hostile(sku), quantity: maybe(fc.integer({ min: 1, max: 10 }), uint32), unitPriceCents: maybe(fc.integer({ min: 0, max: 100_000 }).map(String), int64String) }), { maxLength: 4 }),
          currency: maybe(fc.constantFrom('USD', 'EUR'), anyString),
        });
        return one((m: ordersV1.PlaceOrderRequest) => ordersV1.PlaceOrderRequest.encode(m).finish())(fc.oneof(valid, almostValid, mixed));
      },
    },
    {
      service: 'orders',
      path: '/orders.v1.OrderService/GetOrder',
      kind: 'unary',
      allowed: ['NOT_FOUND'],
      runs: PROPERTY_RUNS,
      requests: () => one((m: ordersV1.GetOrderRequest) => ordersV1.GetOrderRequest.encode(m).finish())(fc.record({ orderId: hostile(uuid) })),
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
            { weight: 1, arbitrary: fc.record({ userId: fc.constant(u.id), pageSize: fc.integer({ min: 0, max: 100 }), pageToken: fc.constant('') }) },
            { weight: 2, arbitrary: fc.record({ userId: fc.constant(u.id), pageSize: fc.integer({ min: 0, max: 100 }), pageToken: craftedPageToken(u.id) }) },
            { weight: 1, arbitrary: fc.record({ userId: fc.oneof(fc.constant(u.id), uuid, spliced(fc.constant(u.id)), anyString), pageSize: small(100), pageToken: maybe(fc.constant(''), anyString) }) },
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

  /** The property for one method of `service` (the stack's, or orders on PostgreSQL); `label` keys the outcomes. */
  async function holds(method: MethodUnderTest, service: ServiceProcess, label: string): Promise<void> {
    const allowed = new Set([...ALWAYS_ALLOWED, ...method.allowed]);
    let n = 0;
    const seen: Record<string, number> = {};
    outcomes[label] = seen;
    // The caller is the user the request was generated for: "valid" requests name the caller's own id.
    const check = async (user: StackUser, messages: Uint8Array[], rawBytes: boolean) => {
      const status = await callRaw(service.target, method.kind, method.path, messages, user.metadata());
      const code = status.slice(0, status.indexOf(':'));
      const key = rawBytes ? `bytes ${code}` : code;
      seen[key] = (seen[key] ?? 0) + 1;
      const ok = allowed.has(code) || (rawBytes && status === 'INTERNAL: Error deserializing request');
      if (!ok) throw new Error(`${label} ended with ${status}`);
    };
    const randomMessage = fc.uint8Array({ maxLength: 256 });
    await fc.assert(
      // By index, so a counterexample prints no access token.
      fc.asyncProperty(fc.nat({ max: users.length - 1 }).chain((i) => method.requests(users[i] as StackUser).map((messages) => [i, messages] as const)), ([i, messages]) => check(users[i] as StackUser, messages, false)),
      { numRuns: method.runs },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(randomMessage, { minLength: 1, maxLength: method.kind === 'unary' || method.kind === 'server_stream' ? 1 : 4 }), (messages) => check(users[n++ % users.length] as StackUser, messages, true)),
      { numRuns: method.runs },
    );
    // More than one outcome: the generators reach past the first check (validation, auth).
    expect(Object.keys(seen).length).toBeGreaterThan(1);
    await expectAlive(service);
  }

  for (const method of methods()) {
    it(`${method.path}: generated requests and random bytes end with an allowed status`, () => holds(method, stack.get(method.service), method.path));
  }

  // The same orders methods on a real PostgreSQL: it refuses what PGlite refuses, with other errors.
  describeRequiring('orders on PostgreSQL', DATABASE_URL ? undefined : 'DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test; .ci/run sets it)', () => {
    let database: TestDatabase | undefined;
    let orders: ServiceProcess | undefined;
    beforeAll(async () => {
      database = await createTestDatabase(DATABASE_URL, 'property');
      orders = await spawnService({ name: 'orders', readyTimeoutMs: 120_000, env: { LOG_LEVEL: 'warn', AUTH_TARGET: stack.get('auth').target, DATABASE_URL: database.url } });
    }, 150_000);
    afterAll(async () => {
      await orders?.stop();
      await database?.drop();
    });
    for (const method of methods().filter((m) => m.service === 'orders')) {
      it(`${method.path} on PostgreSQL: generated requests and random bytes end with an allowed status`, () => holds(method, orders as ServiceProcess, `${method.path} (PostgreSQL)`));
    }
  });

  it('every service is still up with no crash line in its log', async () => {
    for (const name of SERVICE_NAMES) await expectAlive(stack.get(name));
  });
});
