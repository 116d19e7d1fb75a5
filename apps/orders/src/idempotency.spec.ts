// The idempotency key table on both backends (PGlite always; PostgreSQL when DATABASE_URL is
// set, a failure under CI=true without it), through the real auth and the full interceptor
// chain: the replay is the first response byte for byte (read with an identity deserializer),
// a reused key is FAILED_PRECONDITION, a deterministic failure is stored and replayed,
// expired keys are new again and pruned (orders stay), a duplicate in flight is waited for and
// then replayed (or ABORTED with RetryInfo on PostgreSQL), keys are scoped to the principal,
// and keys of orders placed under schema version 1 still replay.
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { ordersV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { randomUUID } from 'node:crypto';
import { MIGRATIONS, migrate } from './migrations.js';
import { IDEMPOTENT_REPLAYED_HEADER, IN_FLIGHT_RETRY_DELAY_MS } from './orders-service.js';
import { requestFingerprint } from './place-order-request.js';
import { openPgliteDatabase } from './sql-database.js';
import {
  cleanUp,
  orderRequest,
  rawPlaceOrder,
  RawPlaceOrderClient,
  startOrders,
  startRealAuth,
  tempDir,
  gate,
  waitFor,
  type OrdersUnderTest,
  type RawResult,
  type RealAuth,
  type StartOrdersOptions,
  type TestUser,
} from '../test/harness.js';
import { backendsUnderTest, createTestDatabase, postgresRequested, type TestDatabase } from '../test/postgres.js';

const backends = backendsUnderTest('idempotency keys on <backend>');

let auth: RealAuth;
let database: TestDatabase | undefined;
beforeAll(async () => {
  auth = await startRealAuth();
  if (postgresRequested) database = await createTestDatabase('orders_idem');
});
afterAll(async () => {
  await auth?.stop();
  await database?.drop();
  await cleanUp();
});

/** The key row as stored. */
interface KeyRow {
  state: string;
  status_code: number;
  status_message: string;
  response: Uint8Array | null;
  order_id: string | null;
  expire_time: Date;
}

/** The header, or undefined. */
function replayHeader(result: RawResult): string | undefined {
  const [value] = result.headers.get(IDEMPOTENT_REPLAYED_HEADER);
  return value === undefined ? undefined : String(value);
}

/** The response bytes of a successful result (fails the test otherwise). */
function bytesOf(result: RawResult): Buffer {
  if (!result.bytes) throw new Error(`PlaceOrder failed: ${result.error?.code} ${result.error?.details}`);
  return result.bytes;
}

/** The order id inside serialized response bytes. */
function orderIdOf(result: RawResult): string {
  return ordersV1.PlaceOrderResponse.decode(bytesOf(result)).order?.id ?? '';
}

describe.each(backends)('idempotency keys on %s', (backend) => {
  /** A clock the expiry tests move forward; the others leave it at real time. */
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);
  /** Set by a test to hold the next claimed call inside its transaction. */
  let hold: { key?: string; inside: ReturnType<typeof gate>; release: ReturnType<typeof gate> } | undefined;
  let orders: OrdersUnderTest;
  let raw: RawPlaceOrderClient;
  let buyer: TestUser;

  const start = (options: Partial<StartOrdersOptions> = {}) =>
    startOrders({
      authTarget: auth.target,
      databaseUrl: backend === 'postgres' ? database?.url : undefined,
      now: clock,
      idempotencyKeyTtlMs: 60_000,
      hooks: {
        async insideTransaction(key) {
          if (!hold || hold.key !== key.requestId) return;
          hold.inside.open();
          await hold.release.opened;
        },
      },
      ...options,
    });

  const keyRow = async (principal: string, requestId: string): Promise<KeyRow | undefined> =>
    (await orders.service.database.query<KeyRow>('SELECT state, status_code, status_message, response, order_id, expire_time FROM idempotency_keys WHERE principal = $1 AND request_id = $2', [principal, requestId]))[0];

  beforeAll(async () => {
    orders = await start();
    raw = orders.server.client(RawPlaceOrderClient) as RawPlaceOrderClient;
    buyer = await auth.registerUser(`idem_${backend}`);
  });
  afterAll(() => orders?.close());
  afterEach(() => {
    offsetMs = 0;
    hold = undefined;
  });

  it('replays the stored response bytes byte for byte, and never re-encodes them', async () => {
    const request = orderRequest(buyer.id);
    const first = await rawPlaceOrder(raw, buyer, request);
    const replay = await rawPlaceOrder(raw, buyer, request);
    expect([replayHeader(first), replayHeader(replay)]).toEqual([undefined, 'true']);
    expect(bytesOf(replay).equals(bytesOf(first))).toBe(true);
    const row = await keyRow(buyer.id, request.requestId);
    expect(row).toMatchObject({ state: 'done', status_code: grpc.status.OK, status_message: '', order_id: orderIdOf(first) });
    expect(Buffer.from(row?.response ?? []).equals(bytesOf(first))).toBe(true);
    // Proof that the replay is the stored buffer, not a re-encoding of the order: append an
    // unknown field (number 15, varint 1) to the stored bytes; a decode + encode would drop
    // or move it, the pass-through serializer sends it as is.
    const marked = Buffer.concat([bytesOf(first), Buffer.from([0x78, 0x01])]);
    await orders.service.database.query('UPDATE idempotency_keys SET response = $3 WHERE principal = $1 AND request_id = $2', [buyer.id, request.requestId, marked]);
    expect(bytesOf(await rawPlaceOrder(raw, buyer, request)).equals(marked)).toBe(true);
  });

  it('answers a reused key with FAILED_PRECONDITION and leaves the stored outcome alone', async () => {
    const request = orderRequest(buyer.id);
    const first = await rawPlaceOrder(raw, buyer, request);
    const reused = await rawPlaceOrder(raw, buyer, { ...request, items: [{ sku: 'OTHER', quantity: 1, unitPriceCents: '1' }] });
    expect([reused.error?.code, reused.error?.details]).toEqual([grpc.status.FAILED_PRECONDITION, `request_id ${request.requestId} was already used with a different request`]);
    expect(bytesOf(await rawPlaceOrder(raw, buyer, request)).equals(bytesOf(first))).toBe(true);
    expect(await orders.service.store.count(buyer.id)).toBeGreaterThanOrEqual(1);
  });

  it('stores a deterministic failure (unknown user) and replays it; stores nothing for a transient one', async () => {
    const admin = await auth.admin();
    const request = orderRequest(`ghost-${randomUUID()}`);
    const first = await rawPlaceOrder(raw, admin, request);
    const message = `user ${request.userId} does not exist`;
    expect([first.error?.code, first.error?.details, replayHeader(first)]).toEqual([grpc.status.FAILED_PRECONDITION, message, undefined]);
    expect(await keyRow(admin.id, request.requestId)).toMatchObject({ state: 'done', status_code: grpc.status.FAILED_PRECONDITION, status_message: message, response: null, order_id: null });
    const again = await rawPlaceOrder(raw, admin, request);
    expect([again.error?.code, again.error?.details, replayHeader(again)]).toEqual([grpc.status.FAILED_PRECONDITION, message, 'true']);
    expect(await orders.service.store.count(request.userId)).toBe(0);

    // The caller's deadline running out is transient: no key is kept, the retry places the order.
    const hurried = orderRequest(buyer.id);
    const timedOut = await rawPlaceOrder(raw, buyer, hurried, { deadline: Date.now() + 1 });
    expect(timedOut.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(await keyRow(buyer.id, hurried.requestId)).toBeUndefined();
    const retried = await rawPlaceOrder(raw, buyer, hurried);
    expect([retried.error, replayHeader(retried)]).toEqual([undefined, undefined]);
  });

  it('scopes keys to the principal: an admin and the user may use one request_id for the same user', async () => {
    const admin = await auth.admin();
    const request = orderRequest(buyer.id);
    const mine = await rawPlaceOrder(raw, buyer, request);
    const admins = await rawPlaceOrder(raw, admin, request);
    expect([replayHeader(mine), replayHeader(admins)]).toEqual([undefined, undefined]);
    expect(orderIdOf(admins)).not.toBe(orderIdOf(mine));
    expect(orderIdOf(await rawPlaceOrder(raw, admin, request))).toBe(orderIdOf(admins));
  });

  it('treats an expired key as new (a second order), and prunes expired keys but never orders', async () => {
    const request = orderRequest(buyer.id);
    const first = await rawPlaceOrder(raw, buyer, request);
    const row = await keyRow(buyer.id, request.requestId);
    expect(row?.expire_time.getTime()).toBe((ordersV1.PlaceOrderResponse.decode(bytesOf(first)).order?.createTime?.getTime() ?? NaN) + 60_000);
    offsetMs = 59_000;
    expect(replayHeader(await rawPlaceOrder(raw, buyer, request))).toBe('true');
    offsetMs = 60_000;
    // Expired: the same key and request place a new order; a different request would too.
    const second = await rawPlaceOrder(raw, buyer, request);
    expect(replayHeader(second)).toBeUndefined();
    expect(orderIdOf(second)).not.toBe(orderIdOf(first));
    expect(bytesOf(await rawPlaceOrder(raw, buyer, request)).equals(bytesOf(second))).toBe(true);
    const ordersBefore = await orders.service.store.count();
    const keysBefore = await orders.service.database.query<{ n: number }>('SELECT count(*)::integer AS n FROM idempotency_keys');

    // Two minutes on, every key made so far has expired (TTL 1 min): the pruner deletes them all.
    offsetMs = 120_001;
    expect(await orders.service.pruneExpiredKeys()).toBe(keysBefore[0].n);
    expect(await orders.service.database.query('SELECT 1 FROM idempotency_keys')).toEqual([]);
    expect(await orders.service.store.count()).toBe(ordersBefore);
    expect(orders.logs.filter((l) => l.msg === 'idempotency keys pruned' && l.count === keysBefore[0].n)).toHaveLength(1);
    // Both orders of the key are still readable.
    const listed = await new Promise<ordersV1.ListOrdersResponse>((resolve, reject) =>
      orders.clientFor(buyer).listOrders(ordersV1.ListOrdersRequest.fromPartial({ userId: buyer.id, pageSize: 100 }), (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(listed.orders.filter((o) => o.requestId === request.requestId).map((o) => o.id).sort()).toEqual([orderIdOf(first), orderIdOf(second)].sort());
  });

  it('makes a duplicate wait for the call in flight, then replays its outcome', async () => {
    const request = orderRequest(buyer.id);
    hold = { key: request.requestId, inside: gate(), release: gate() };
    const first = rawPlaceOrder(raw, buyer, request);
    await hold.inside.opened;
    let secondDone = false;
    const second = rawPlaceOrder(raw, buyer, request).finally(() => (secondDone = true));
    if (backend === 'postgres') {
      // The duplicate is blocked on the key's row lock (its INSERT ... ON CONFLICT).
      const db = database as TestDatabase;
      await waitFor('the duplicate to wait on a lock', async () => (await db.query<{ n: number }>("SELECT count(*)::integer AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", [db.name]))[0].n === 1);
    } else {
      // PGlite is one connection: the duplicate waits for it (nothing to observe from outside).
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(secondDone).toBe(false);
    hold.release.open();
    const [a, b] = await Promise.all([first, second]);
    expect([replayHeader(a), replayHeader(b)]).toEqual([undefined, 'true']);
    expect(bytesOf(b).equals(bytesOf(a))).toBe(true);
    const count = await orders.service.database.query<{ n: number }>('SELECT count(*)::integer AS n FROM orders WHERE user_id = $1 AND request_id = $2', [buyer.id, request.requestId]);
    expect(count[0].n).toBe(1);
  });

  // Only PostgreSQL: on PGlite (one connection) a duplicate always waits, so the case does not exist there.
  if (backend === 'postgres') it('answers ABORTED with RetryInfo when the call in flight outlasts the wait (PostgreSQL)', async () => {
    // PGlite cannot show this: on its one connection a duplicate waits for the connection.
    const impatient = await start({ inFlightWaitMs: 300 });
    try {
      const impatientRaw = impatient.server.client(RawPlaceOrderClient) as RawPlaceOrderClient;
      const request = orderRequest(buyer.id);
      hold = { key: request.requestId, inside: gate(), release: gate() };
      const first = rawPlaceOrder(raw, buyer, request);
      await hold.inside.opened;
      const aborted = await rawPlaceOrder(impatientRaw, buyer, request);
      expect([aborted.error?.code, aborted.error?.details]).toEqual([grpc.status.ABORTED, `request_id ${request.requestId} is already in progress; retry later`]);
      expect(aborted.error && decodeStatusDetails(aborted.error)?.retryDelayMs).toBe(IN_FLIGHT_RETRY_DELAY_MS);
      expect(aborted.error?.metadata.get('grpc-retry-pushback-ms')).toEqual([String(IN_FLIGHT_RETRY_DELAY_MS)]);
      hold.release.open();
      const placed = await first;
      // The retry the RetryInfo asks for: the finished outcome, byte for byte, from either server.
      const retry = await rawPlaceOrder(impatientRaw, buyer, request);
      expect([replayHeader(retry), bytesOf(retry).equals(bytesOf(placed))]).toEqual(['true', true]);
    } finally {
      await impatient.close();
    }
  });
});

describe('keys of orders placed under schema version 1', () => {
  it('are carried over by migration 2 and replay the order', async () => {
    const dataDir = await tempDir('orders-v1');
    const user = await auth.registerUser('legacy');
    const request = orderRequest(user.id);
    const orderId = randomUUID();
    const db = await openPgliteDatabase(dataDir);
    try {
      expect(await migrate(db, MIGRATIONS.filter((m) => m.version === 1))).toEqual([1]);
      const fingerprint = requestFingerprint({ userId: user.id, currency: 'USD', items: request.items.map((i) => ({ ...i, unitPriceCents: BigInt(i.unitPriceCents) })) });
      await db.query(
        `INSERT INTO orders (id, user_id, request_id, request_fingerprint, currency, total_cents, status, create_time, idempotency_key_expire_time)
         VALUES ($1, $2, $3, $4, 'USD', 4499, 'PLACED', now(), NULL)`,
        [orderId, user.id, request.requestId, fingerprint],
      );
      await db.query(`INSERT INTO order_items VALUES ($1, 0, 'TEA-GREEN-100G', 2, 1250), ($1, 1, 'MUG-STONEWARE', 1, 1999)`, [orderId]);
    } finally {
      await db.close();
    }
    const orders = await startOrders({ authTarget: auth.target, dataDir });
    try {
      const result = await rawPlaceOrder(orders.server.client(RawPlaceOrderClient) as RawPlaceOrderClient, user, request);
      expect(replayHeader(result)).toBe('true');
      expect(ordersV1.PlaceOrderResponse.decode(bytesOf(result)).order).toMatchObject({ id: orderId, totalCents: '4499', items: request.items });
      expect(await orders.service.store.count(user.id)).toBe(1);
    } finally {
      await orders.close();
    }
  });
});
