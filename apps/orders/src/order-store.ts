/**
 * Where orders live. The service talks to the {@link OrderStore} interface; {@link SqlOrderStore}
 * implements it with plain PostgreSQL over a {@link SqlDatabase} (PGlite, or PostgreSQL through `pg`).
 */
import type { PageCursor } from './page-token.js';
import type { ValidPlaceOrder } from './place-order-request.js';
import type { SqlDatabase, SqlExecutor } from './sql-database.js';

/** A line item as stored; int64 as a decimal string, as ts-proto (forceLong=string) carries it. */
export interface StoredLineItem {
  sku: string;
  quantity: number;
  unitPriceCents: string;
}

/** An order as stored. */
export interface StoredOrder {
  id: string;
  requestId: string;
  userId: string;
  items: StoredLineItem[];
  totalCents: string;
  currency: string;
  /** 'PLACED' (the only status so far). */
  status: string;
  createTime: Date;
  /** SHA-256 (hex) of the canonical request it was placed with. */
  requestFingerprint: string;
}

/** What {@link OrderWriter.insertOrder} is given. */
export interface NewOrder extends ValidPlaceOrder {
  id: string;
  createTime: Date;
}

/** An idempotency key: the request_id a principal (the authenticated caller) chose. */
export interface IdempotencyKey {
  /** The caller's user id (token subject): keys of different callers never collide. */
  principal: string;
  requestId: string;
}

/**
 * The outcome stored with a key, replayed to every retry: a gRPC status code and message, and
 * for OK the exact bytes of the serialized orders.v1.PlaceOrderResponse.
 */
export interface KeyOutcome {
  /** gRPC status code (0 OK). */
  code: number;
  /** Status message ('' for OK). */
  message: string;
  /** Serialized orders.v1.PlaceOrderResponse, bytes; only for OK. */
  response?: Buffer;
  /** The order placed, if any. */
  orderId?: string;
}

/** A finished key as stored: its request fingerprint, outcome and lifetime. */
export interface StoredKey extends KeyOutcome {
  /** SHA-256 (hex) of the canonical request that claimed the key. */
  fingerprint: string;
  /** When its owner claimed it. */
  createTime: Date;
  /** From then on it is treated as new (and pruned). */
  expireTime: Date;
}

/** How {@link OrderStore.executeOnce} claims a key. */
export interface ClaimOptions {
  /** Fingerprint of this request (stored when the key is claimed; compared by the caller otherwise). */
  fingerprint: string;
  /** The time the key is claimed at; an existing key whose expire_time <= now is claimed anew. */
  now: Date;
  /** Stored expiry of a claimed key. */
  expireTime: Date;
  /**
   * Longest wait for a key another transaction holds (in flight), ms, ≥ 1 (PostgreSQL
   * `lock_timeout`). On PGlite (one connection) another transaction can never be in flight:
   * a concurrent call waits for the connection instead, so this never fires there.
   */
  lockTimeoutMs: number;
}

/** What {@link OrderStore.executeOnce} resolves to. */
export type ExecuteOnceResult =
  /** This call claimed the key, ran the work and committed its outcome. */
  | { claimed: true; outcome: KeyOutcome }
  /** The key was already done and unexpired: its stored outcome (the work did not run). */
  | { claimed: false; existing: StoredKey };

/** The writes the work inside {@link OrderStore.executeOnce} may do, in the key's transaction. */
export interface OrderWriter {
  /** Inserts the order and its items; resolves with the order as stored. */
  insertOrder(order: NewOrder): Promise<StoredOrder>;
}

/**
 * The key is held by another transaction still in flight, and it did not finish within
 * `lockTimeoutMs` (PostgreSQL SQLSTATE 55P03 lock_not_available). Nothing was written.
 */
export class KeyInFlightError extends Error {
  constructor(readonly key: IdempotencyKey) {
    super(`idempotency key (${key.principal}, ${key.requestId}) is in flight`);
    this.name = 'KeyInFlightError';
  }
}

/** Persistence of orders and their idempotency keys. */
export interface OrderStore {
  /**
   * Runs `work` at most once per unexpired key, in ONE transaction with the key:
   * 1. inserts the key as 'in_flight' (INSERT ... ON CONFLICT DO UPDATE ... WHERE expired), or
   *    meets the existing row; a row another transaction holds is waited for (row lock, at
   *    most `lockTimeoutMs`), then met as that transaction left it;
   * 2. claimed (new, or expired and taken over): runs `work`, stores its outcome as 'done', and
   *    commits the key, the order and the outcome together;
   * 3. met an unexpired done key: returns it without running `work` (fingerprints are the
   *    caller's to compare).
   * `work` throwing rolls everything back (no key, no order) and rejects with its error.
   *
   * @throws KeyInFlightError when the key stayed in flight for `lockTimeoutMs`.
   */
  executeOnce(key: IdempotencyKey, options: ClaimOptions, work: (writer: OrderWriter) => Promise<KeyOutcome>): Promise<ExecuteOnceResult>;
  /** The key if it is done and unexpired at `now` (a plain read: never waits for an in-flight owner). */
  findKey(key: IdempotencyKey, now: Date): Promise<StoredKey | undefined>;
  /**
   * Deletes keys with expire_time <= `now`, in batches of `batchSize` (one statement each,
   * `FOR UPDATE SKIP LOCKED`, so keys being taken over are left alone). Orders are never deleted.
   *
   * @returns the number of keys deleted.
   */
  pruneExpiredKeys(now: Date, batchSize?: number): Promise<number>;
  /** The order with this id (a UUID), if any. */
  get(id: string): Promise<StoredOrder | undefined>;
  /** Up to `limit` of the user's orders, newest first (create_time DESC, id DESC), after `cursor`. */
  listByUser(userId: string, limit: number, cursor?: PageCursor): Promise<StoredOrder[]>;
  /** Number of order rows (of one user when given): for tests and operators. */
  count(userId?: string): Promise<number>;
  close(): Promise<void>;
}

interface OrderRow {
  id: string;
  request_id: string;
  user_id: string;
  request_fingerprint: string;
  currency: string;
  total_cents: string;
  status: string;
  create_time: Date;
}

interface ItemRow {
  order_id: string;
  sku: string;
  quantity: number;
  unit_price_cents: string;
}

// int64 columns are cast to text: PGlite parses int8 to BigInt and `pg` to string; text is the
// same on both and is what the generated messages want.
const ORDER_COLUMNS = 'id, request_id, user_id, request_fingerprint, currency, total_cents::text AS total_cents, status, create_time';

interface KeyRow {
  request_fingerprint: string;
  status_code: number;
  status_message: string;
  response: Uint8Array | null;
  order_id: string | null;
  create_time: Date;
  expire_time: Date;
}

const KEY_COLUMNS = 'request_fingerprint, status_code, status_message, response, order_id, create_time, expire_time';

/** Default number of keys {@link SqlOrderStore.pruneExpiredKeys} deletes per statement. */
export const PRUNE_BATCH_SIZE = 1000;

/** PostgreSQL's SQLSTATE for a lock wait that ran into `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * {@link OrderStore} on PostgreSQL SQL (runs on PGlite and on a real server alike).
 *
 * Crash safety comes from the single transaction: the key row ('in_flight'), the order and the
 * outcome ('done') commit together or not at all. "In flight" is therefore never a committed
 * state that could outlive its owner: other sessions see it only as the row lock of an open
 * transaction, and when the owner dies (process SIGKILLed, connection cut) PostgreSQL rolls the
 * transaction back and the lock goes with it; a waiting retry then claims the key itself.
 * No lease, no reaper, no "stuck" state to repair.
 */
export class SqlOrderStore implements OrderStore {
  constructor(private readonly db: SqlDatabase) {}

  executeOnce(key: IdempotencyKey, options: ClaimOptions, work: (writer: OrderWriter) => Promise<KeyOutcome>): Promise<ExecuteOnceResult> {
    return this.db.transaction(async (tx) => {
      // Bound the wait for an in-flight owner's row lock; restored right after the claim so
      // that the order's own statements keep the session's setting.
      const [{ previous }] = await tx.query<{ previous: string }>("SELECT current_setting('lock_timeout') AS previous, set_config('lock_timeout', $1, true)", [`${Math.max(1, Math.ceil(options.lockTimeoutMs))}ms`]);
      let claimed: unknown[];
      try {
        // New key: inserted. Existing and expired: taken over (a fresh key). Existing and
        // unexpired: no row back, but ON CONFLICT DO UPDATE has locked it (after waiting for
        // its owner, if in flight), so the SELECT below reads it as finally committed.
        claimed = await tx.query(
          `INSERT INTO idempotency_keys (principal, request_id, request_fingerprint, state, create_time, expire_time)
           VALUES ($1, $2, $3, 'in_flight', $4, $5)
           ON CONFLICT (principal, request_id) DO UPDATE SET
             request_fingerprint = EXCLUDED.request_fingerprint, state = 'in_flight', status_code = NULL, status_message = NULL,
             response = NULL, order_id = NULL, create_time = EXCLUDED.create_time, finish_time = NULL, expire_time = EXCLUDED.expire_time
           WHERE idempotency_keys.expire_time <= EXCLUDED.create_time
           RETURNING 1`,
          [key.principal, key.requestId, options.fingerprint, options.now, options.expireTime],
        );
      } catch (error) {
        if ((error as { code?: unknown }).code === LOCK_NOT_AVAILABLE) throw new KeyInFlightError(key);
        throw error;
      }
      await tx.query("SELECT set_config('lock_timeout', $1, true)", [previous]);
      if (claimed.length === 0) {
        const [row] = await tx.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE principal = $1 AND request_id = $2`, [key.principal, key.requestId]);
        if (!row) throw new Error(`idempotency key (${key.principal}, ${key.requestId}) conflicted but is gone`);
        return { claimed: false, existing: toStoredKey(row) };
      }
      const outcome = await work({ insertOrder: (order) => this.insertOrder(tx, order) });
      await tx.query(
        `UPDATE idempotency_keys SET state = 'done', status_code = $3, status_message = $4, response = $5, order_id = $6, finish_time = $7
         WHERE principal = $1 AND request_id = $2`,
        [key.principal, key.requestId, outcome.code, outcome.message, outcome.response ?? null, outcome.orderId ?? null, options.now],
      );
      return { claimed: true, outcome };
    });
  }

  async findKey(key: IdempotencyKey, now: Date): Promise<StoredKey | undefined> {
    const [row] = await this.db.query<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE principal = $1 AND request_id = $2 AND state = 'done' AND expire_time > $3`,
      [key.principal, key.requestId, now],
    );
    return row ? toStoredKey(row) : undefined;
  }

  async pruneExpiredKeys(now: Date, batchSize = PRUNE_BATCH_SIZE): Promise<number> {
    let total = 0;
    for (;;) {
      // DELETE has no LIMIT in PostgreSQL: pick a batch by ctid (a TID scan), skipping rows
      // another transaction holds (a key being taken over after expiry).
      const [{ n }] = await this.db.query<{ n: number }>(
        `WITH gone AS (
           DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM idempotency_keys WHERE expire_time <= $1 ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED))
           RETURNING 1)
         SELECT count(*)::integer AS n FROM gone`,
        [now, batchSize],
      );
      total += n;
      if (n < batchSize) return total;
    }
  }

  /** Inserts an order and its items on `tx`; resolves with the order as stored. */
  private async insertOrder(tx: SqlExecutor, order: NewOrder): Promise<StoredOrder> {
    await tx.query(
      `INSERT INTO orders (id, user_id, request_id, request_fingerprint, currency, total_cents, status, create_time)
       VALUES ($1, $2, $3, $4, $5, $6, 'PLACED', $7)`,
      [order.id, order.userId, order.requestId, order.fingerprint, order.currency, order.totalCents.toString(), order.createTime],
    );
    await tx.query(
      `INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents)
       SELECT $1, (t.ord - 1)::integer, t.sku, t.quantity, t.unit_price_cents
       FROM unnest($2::text[], $3::integer[], $4::bigint[]) WITH ORDINALITY AS t(sku, quantity, unit_price_cents, ord)`,
      [order.id, order.items.map((i) => i.sku), order.items.map((i) => i.quantity), order.items.map((i) => i.unitPriceCents.toString())],
    );
    const created = await this.selectOne(tx, `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`, [order.id]);
    if (!created) throw new Error(`order ${order.id} vanished inside its own transaction`);
    return created;
  }

  get(id: string): Promise<StoredOrder | undefined> {
    return this.selectOne(this.db, `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`, [id]);
  }

  async listByUser(userId: string, limit: number, cursor?: PageCursor): Promise<StoredOrder[]> {
    const rows = cursor
      ? await this.db.query<OrderRow>(
          `SELECT ${ORDER_COLUMNS} FROM orders
           WHERE user_id = $1 AND (create_time, id) < ($2, $3)
           ORDER BY create_time DESC, id DESC LIMIT $4`,
          [userId, cursor.createTime, cursor.id, limit],
        )
      : await this.db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 ORDER BY create_time DESC, id DESC LIMIT $2`, [userId, limit]);
    return this.withItems(this.db, rows);
  }

  async count(userId?: string): Promise<number> {
    const rows =
      userId === undefined
        ? await this.db.query<{ n: number }>('SELECT count(*)::integer AS n FROM orders')
        : await this.db.query<{ n: number }>('SELECT count(*)::integer AS n FROM orders WHERE user_id = $1', [userId]);
    return rows[0].n;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async selectOne(executor: SqlExecutor, sql: string, params: unknown[]): Promise<StoredOrder | undefined> {
    const [order] = await this.withItems(executor, await executor.query<OrderRow>(sql, params));
    return order;
  }

  /** Attaches items to orders with one query for the whole page (no N+1). */
  private async withItems(executor: SqlExecutor, rows: OrderRow[]): Promise<StoredOrder[]> {
    if (rows.length === 0) return [];
    const items = await executor.query<ItemRow>(
      `SELECT order_id, sku, quantity, unit_price_cents::text AS unit_price_cents
       FROM order_items WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, position`,
      [rows.map((r) => r.id)],
    );
    const byOrder = new Map<string, StoredLineItem[]>();
    for (const item of items) {
      const list = byOrder.get(item.order_id) ?? [];
      list.push({ sku: item.sku, quantity: item.quantity, unitPriceCents: item.unit_price_cents });
      byOrder.set(item.order_id, list);
    }
    return rows.map((r) => ({
      id: r.id,
      requestId: r.request_id,
      userId: r.user_id,
      items: byOrder.get(r.id) ?? [],
      totalCents: r.total_cents,
      currency: r.currency,
      status: r.status,
      createTime: r.create_time,
      requestFingerprint: r.request_fingerprint,
    }));
  }
}

/** A key row as {@link StoredKey}; bytea arrives as Uint8Array (PGlite) or Buffer (pg). */
function toStoredKey(row: KeyRow): StoredKey {
  return {
    fingerprint: row.request_fingerprint,
    code: row.status_code,
    message: row.status_message,
    response: row.response === null ? undefined : Buffer.from(row.response.buffer, row.response.byteOffset, row.response.byteLength),
    orderId: row.order_id ?? undefined,
    createTime: row.create_time,
    expireTime: row.expire_time,
  };
}
