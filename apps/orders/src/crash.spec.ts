// Crash safety on a real PostgreSQL server (DATABASE_URL; skipped with the reason when unset, a
// failure under CI=true): a real orders process (the built dist, spawned) is SIGKILLed while it
// is inside the PlaceOrder transaction, after it inserted the key and the order. PostgreSQL
// rolls the transaction back when the connection dies, so nothing half-written remains and no
// key is left in flight, and a retry on another replica places the order exactly once.
//
// How the process is held inside its transaction without test code in it: the spec holds
// `LOCK TABLE order_items IN SHARE MODE` in a transaction of its own, so the process's
// `INSERT INTO order_items` (after the key and the order row) waits, visibly, in pg_stat_activity.
import { ordersV1 } from '@grpc-patterns/proto';
import { expectStatus, grpc, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import pg from 'pg';
import { cleanUp, orderOf, orderRequest, placeOrder, replayed, startOrders, startRealAuth, tempDir, waitFor, type OrdersUnderTest, type RealAuth } from '../test/harness.js';
import { createTestDatabase, describeWithPostgres, type TestDatabase } from '../test/postgres.js';

describeWithPostgres('an orders replica SIGKILLed inside the PlaceOrder transaction', () => {
  let auth: RealAuth;
  let database: TestDatabase;
  let victim: ServiceProcess | undefined;
  let survivor: OrdersUnderTest | undefined;
  beforeAll(async () => {
    auth = await startRealAuth();
    database = await createTestDatabase('orders_crash');
  });
  afterAll(async () => {
    await victim?.stop('SIGKILL');
    await survivor?.close();
    await auth?.stop();
    await database?.drop();
    await cleanUp();
  });

  it('leaves no order and no key in flight, and a retry on another replica places the order once', async () => {
    victim = await spawnService({
      name: 'orders',
      env: { DATABASE_URL: database.url, AUTH_TARGET: auth.target, DATA_DIR: await tempDir('victim'), LOG_LEVEL: 'warn' },
      healthService: 'orders.v1.OrderService',
      readyTimeoutMs: 120_000,
    });
    // Another replica on the same database; it waits at most 300 ms for a key in flight.
    survivor = await startOrders({ authTarget: auth.target, databaseUrl: database.url, inFlightWaitMs: 300 });
    const user = await auth.registerUser('crash');
    const request = orderRequest(user.id);

    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    const victimClient = new ordersV1.OrderServiceClient(victim.target, grpc.credentials.createInsecure());
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE order_items IN SHARE MODE');
      const doomed = placeOrder(victimClient, request, { metadata: user.metadata() }).then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
      let backendPid: number | undefined;
      await waitFor('the victim to block inside its transaction', async () => {
        const rows = await database.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO order_items%'",
          [database.name],
        );
        backendPid = rows[0]?.pid;
        return backendPid !== undefined;
      });
      // Inside: key and order inserted, uncommitted. Other sessions see neither row, only the
      // key's row lock: the survivor's duplicate waits for it, then answers ABORTED.
      expect(await database.query('SELECT 1 FROM orders WHERE user_id = $1', [user.id])).toEqual([]);
      const inFlight = await expectStatus(placeOrder(survivor.clientFor(user), request));
      expect([inFlight.code, inFlight.details]).toEqual([grpc.status.ABORTED, `request_id ${request.requestId} is already in progress; retry later`]);

      expect(await victim.stop('SIGKILL')).toBeNull();
      expect((await doomed)?.code).toBe(grpc.status.UNAVAILABLE);
      // Let the dead process's backend run on: it finds its client gone and rolls back.
      await blocker.query('COMMIT');
      await waitFor('the killed process to lose its backend', async () => (await database.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backendPid])).length === 0);
    } finally {
      victimClient.close();
      await blocker.end();
    }

    // Nothing half-written, nothing in flight: no order, no key row at all.
    expect(await database.query('SELECT id FROM orders WHERE user_id = $1', [user.id])).toEqual([]);
    expect(await database.query('SELECT state FROM idempotency_keys WHERE principal = $1', [user.id])).toEqual([]);
    expect(await database.query("SELECT 1 FROM idempotency_keys WHERE state = 'in_flight'")).toEqual([]);

    // The client's retry, on the surviving replica: placed once, then replayed.
    const retry = await placeOrder(survivor.clientFor(user), request);
    expect(replayed(retry)).toBeUndefined();
    expect(replayed(await placeOrder(survivor.clientFor(user), request))).toBe('true');
    const rows = await database.query<{ id: string }>('SELECT id FROM orders WHERE user_id = $1 AND request_id = $2', [user.id, request.requestId]);
    expect(rows.map((r) => r.id)).toEqual([orderOf(retry).id]);
    expect(await database.query('SELECT state, order_id FROM idempotency_keys WHERE principal = $1', [user.id])).toEqual([{ state: 'done', order_id: orderOf(retry).id }]);
  });
});
