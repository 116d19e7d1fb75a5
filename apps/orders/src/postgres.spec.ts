// The orders store on a real PostgreSQL server (DATABASE_URL; skipped with the reason when unset,
// a failure under CI=true), in a database of this file's own: the same create / replay /
// mismatch behaviour as on PGlite (one parameterised describe over both backends), migrations
// from 3 replicas at once, 50 concurrent PlaceOrder with one key over 3 servers sharing the
// database, and connection loss answered with UNAVAILABLE, then recovered from.
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { randomUUID } from 'node:crypto';
import { createServer, Socket, type Server } from 'node:net';
import { MIGRATIONS, migrate } from './migrations.js';
import { openPgDatabase } from './sql-database.js';
import { cleanUp, orderOf, orderRequest, placeOrder, replayed, startOrders, startRealAuth, type OrdersUnderTest, type RealAuth, type TestUser } from '../test/harness.js';
import { backendsUnderTest, createTestDatabase, describeWithPostgres, postgresRequested, withDatabase, type TestDatabase } from '../test/postgres.js';

const backends = backendsUnderTest('PlaceOrder on <backend>');

let auth: RealAuth;
let database: TestDatabase | undefined;

beforeAll(async () => {
  auth = await startRealAuth();
  if (postgresRequested) database = await createTestDatabase();
});
afterAll(async () => {
  await auth?.stop();
  await database?.drop();
  await cleanUp();
});

describe.each(backends)('PlaceOrder on %s', (backend) => {
  let orders: OrdersUnderTest;
  let buyer: TestUser;
  let client: ReturnType<OrdersUnderTest['clientFor']>;
  beforeAll(async () => {
    orders = await startOrders({ authTarget: auth.target, databaseUrl: backend === 'postgres' ? database?.url : undefined });
    buyer = await auth.registerUser(backend);
    client = orders.clientFor(buyer);
  });
  afterAll(() => orders?.close());

  it('creates the order, then replays it for the same key and request with idempotent-replayed: true', async () => {
    const request = orderRequest(buyer.id);
    const first = await placeOrder(client, request);
    expect(orderOf(first)).toMatchObject({ requestId: request.requestId, userId: buyer.id, totalCents: '4499', currency: 'USD', items: request.items });
    expect(replayed(first)).toBeUndefined();
    const retry = await placeOrder(client, { ...request, currency: 'USD' });
    expect(retry.response).toEqual(first.response);
    expect(replayed(retry)).toBe('true');
    expect(await orders.service.store.count(buyer.id)).toBe(1);
  });

  it('rejects the same key with a different request with FAILED_PRECONDITION and keeps the first order', async () => {
    const request = orderRequest(buyer.id);
    const first = await placeOrder(client, request);
    const error = await expectStatus(placeOrder(client, { ...request, currency: 'EUR' }));
    expect([error.code, error.details]).toEqual([grpc.status.FAILED_PRECONDITION, `request_id ${request.requestId} was already used with a different request`]);
    expect(orderOf(await placeOrder(client, request)).id).toBe(orderOf(first).id);
  });

  it('creates exactly one order for 20 concurrent calls with one key', async () => {
    const request = orderRequest(buyer.id, { requestId: randomUUID() });
    const before = await orders.service.store.count(buyer.id);
    const results = await Promise.all(Array.from({ length: 20 }, () => placeOrder(client, request)));
    expect(new Set(results.map((r) => orderOf(r).id)).size).toBe(1);
    expect(results.filter((r) => replayed(r) === undefined)).toHaveLength(1);
    expect(await orders.service.store.count(buyer.id)).toBe(before + 1);
  });
});

describeWithPostgres('orders on PostgreSQL', () => {
  it('applies migrations exactly once when 3 replicas start at once on a fresh database', async () => {
    const fresh = await createTestDatabase('orders_migrate');
    try {
      const dbs = await Promise.all([1, 2, 3].map(() => openPgDatabase(fresh.url)));
      try {
        const applied = await Promise.all(dbs.map((db) => migrate(db)));
        // One replica applied every version; the others waited on the advisory lock, then found nothing to do.
        expect(applied.map((a) => a.length).sort()).toEqual([0, 0, MIGRATIONS.length]);
        expect(applied.flat()).toEqual(MIGRATIONS.map((m) => m.version));
        const rows = await fresh.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
        expect(await Promise.all(dbs.map((db) => migrate(db)))).toEqual([[], [], []]);
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
      }
    } finally {
      await fresh.drop();
    }
  });

  it('50 concurrent PlaceOrder with one key over 3 servers sharing the database: 1 order row, every caller gets it', async () => {
    const url = database?.url as string;
    const servers = await Promise.all([1, 2, 3].map(() => startOrders({ authTarget: auth.target, databaseUrl: url })));
    try {
      const racer = await auth.registerUser('race3');
      const clients = servers.map((s) => s.clientFor(racer));
      const request = orderRequest(racer.id, { requestId: randomUUID() });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => placeOrder(clients[i % 3], request)));
      const ids = new Set(results.map((r) => orderOf(r).id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => replayed(r) === undefined)).toHaveLength(1);
      expect(results.filter((r) => replayed(r) === 'true')).toHaveLength(49);
      const rows = await database?.query<{ id: string }>('SELECT id FROM orders WHERE user_id = $1 AND request_id = $2', [racer.id, request.requestId]);
      expect(rows?.map((r) => r.id)).toEqual([...ids]);
      // Every server took part, and the placed log line was written once in all.
      const placed = servers.flatMap((s) => s.logs.filter((l) => l.msg === 'order placed' && l.userId === racer.id));
      expect(placed).toHaveLength(1);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  it('turns a connection lost inside a transaction into UNAVAILABLE, and the pool recovers', async () => {
    const db = await openPgDatabase(database?.url as string, { max: 2 });
    try {
      const error = await db.transaction((tx) => tx.query('SELECT pg_terminate_backend(pg_backend_pid())')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GrpcError);
      expect([(error as GrpcError).code, (error as GrpcError).message]).toEqual([grpc.status.UNAVAILABLE, 'database unavailable']);
      // The broken connection was destroyed, not pooled: the next statements run.
      expect(await db.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(await db.transaction((tx) => tx.query<{ two: number }>('SELECT 2 AS two'))).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('answers PlaceOrder with UNAVAILABLE while PostgreSQL is unreachable, and serves again when it is back', async () => {
    // A TCP proxy in front of the server stands for the network path to it: closing it cuts
    // every connection and refuses new ones, as a server restart does.
    const upstream = new URL(database?.url as string);
    const proxy = await startProxy(upstream.hostname, Number(upstream.port || 5432));
    const viaProxy = withDatabase(database?.url as string, database?.name as string).replace(`${upstream.host}`, `127.0.0.1:${proxy.port}`);
    const orders = await startOrders({ authTarget: auth.target, databaseUrl: viaProxy });
    try {
      const user = await auth.registerUser('outage');
      const client = orders.clientFor(user);
      await placeOrder(client, orderRequest(user.id));
      await proxy.down();
      const request = orderRequest(user.id);
      const error = await expectStatus(placeOrder(client, request));
      expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, 'database unavailable']);
      await proxy.up();
      // Same key after the outage: placed once (nothing was half-written by the failed call).
      const result = await placeOrder(client, request);
      expect(replayed(result)).toBeUndefined();
      expect(await orders.service.store.count(user.id)).toBe(2);
    } finally {
      await orders.close();
      await proxy.down();
    }
  });
});

/** A TCP proxy to host:port on a fixed local port that can be taken down and up again. */
async function startProxy(host: string, port: number): Promise<{ port: number; down(): Promise<void>; up(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let localPort = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((inbound) => {
        const outbound = new Socket();
        sockets.add(inbound).add(outbound);
        const drop = () => {
          inbound.destroy();
          outbound.destroy();
          sockets.delete(inbound);
          sockets.delete(outbound);
        };
        inbound.on('error', drop).on('close', drop);
        outbound.on('error', drop).on('close', drop);
        outbound.connect(port, host, () => {
          inbound.pipe(outbound);
          outbound.pipe(inbound);
        });
      });
      server.once('error', reject);
      server.listen(localPort, '127.0.0.1', () => {
        const address = server?.address();
        if (typeof address === 'object' && address) localPort = address.port;
        resolve();
      });
    });
  await up();
  return {
    get port() {
      return localPort;
    },
    async down() {
      const closing = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    up,
  };
}
