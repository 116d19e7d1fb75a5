/**
 * Versioned schema migrations, recorded in `schema_migrations` (the Rails / golang-migrate
 * convention): each version runs once, in order, in one transaction with its bookkeeping row,
 * so a crash leaves either the old or the new schema. Plain PostgreSQL, so PGlite and a real
 * server run the same statements. Never edit a shipped migration: add the next version.
 */
import type { SqlDatabase } from './sql-database.js';

/** One schema change. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The orders schema, oldest first. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'orders and order items',
    sql: `
      CREATE TABLE orders (
        id uuid PRIMARY KEY,
        user_id text NOT NULL,
        -- The idempotency key, scoped to the user: two users may pick the same key.
        request_id text NOT NULL,
        -- SHA-256 (hex) of the canonical request, to tell a retry from a reused key.
        request_fingerprint text NOT NULL,
        currency char(3) NOT NULL,
        total_cents bigint NOT NULL CHECK (total_cents >= 0),
        status text NOT NULL,
        -- Millisecond precision, as JavaScript dates and page tokens carry it.
        create_time timestamptz(3) NOT NULL,
        -- NULL: the key never expires (IDEMPOTENCY_KEY_TTL_MS unset).
        idempotency_key_expire_time timestamptz(3),
        CONSTRAINT orders_idempotency_key UNIQUE (user_id, request_id)
      );
      -- ListOrders: one user's orders, newest first, keyset-paged on (create_time, id).
      CREATE INDEX orders_user_newest ON orders (user_id, create_time DESC, id DESC);
      CREATE TABLE order_items (
        order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
        position integer NOT NULL,
        sku text NOT NULL,
        quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
        unit_price_cents bigint NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 100000000),
        PRIMARY KEY (order_id, position)
      );
    `,
  },
  {
    version: 2,
    name: 'idempotency keys with stored outcomes',
    sql: `
      -- One row per idempotency key, scoped to the principal (the authenticated caller) that
      -- chose it. The row is inserted in the same transaction as the order it guards, so a
      -- committed row is always 'done'; 'in_flight' exists only inside the owning transaction
      -- (other sessions see it as a row lock to wait on) and is rolled back with it.
      CREATE TABLE idempotency_keys (
        principal text NOT NULL,
        request_id text NOT NULL,
        -- SHA-256 (hex) of the canonical request: a retry has the same, a reused key another.
        request_fingerprint text NOT NULL,
        state text NOT NULL CHECK (state IN ('in_flight', 'done')),
        -- The stored outcome: gRPC status code and message, and for OK the exact serialized
        -- orders.v1.PlaceOrderResponse. NULL response with an order_id: a key carried over
        -- from version 1, replayed by encoding its order.
        status_code integer,
        status_message text,
        response bytea,
        order_id uuid REFERENCES orders (id),
        -- When the current owner claimed the key (locked it), and when it stored the outcome.
        create_time timestamptz(3) NOT NULL,
        finish_time timestamptz(3),
        -- From then on the key is forgotten: treated as new, and pruned.
        expire_time timestamptz(3) NOT NULL,
        PRIMARY KEY (principal, request_id),
        CHECK (state = 'in_flight' OR status_code IS NOT NULL)
      );
      -- The pruner deletes expired keys in batches, oldest expiry first.
      CREATE INDEX idempotency_keys_expire_time ON idempotency_keys (expire_time);
      -- Keys of orders placed under version 1 (scoped to the order's user, who placed it unless
      -- an admin did), so their retries still replay. Keys that never expired get the default
      -- TTL (24 h) from now.
      INSERT INTO idempotency_keys (principal, request_id, request_fingerprint, state, status_code, status_message, order_id, create_time, finish_time, expire_time)
      SELECT user_id, request_id, request_fingerprint, 'done', 0, '', id, create_time, create_time,
             COALESCE(idempotency_key_expire_time, now() + interval '24 hours')
      FROM orders;
      -- The key table is the arbiter now: an expired key may place a second order with the
      -- same request_id, and an admin's key is not the user's.
      ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key;
      ALTER TABLE orders DROP COLUMN idempotency_key_expire_time;
    `,
  },
];

/**
 * Arbitrary constant key of the PostgreSQL advisory lock that serializes migrations when
 * several replicas start at once against one server (harmless on single-connection PGlite).
 */
const MIGRATION_LOCK_KEY = 5_505_505;

/**
 * Brings the schema up to the newest version, in one transaction (PostgreSQL DDL is
 * transactional): a failing migration leaves the schema and `schema_migrations` untouched.
 *
 * @returns the versions applied by this call, in order (empty when already current).
 */
export async function migrate(db: SqlDatabase, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
    `);
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    const applied: number[] = [];
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    return applied;
  });
}
