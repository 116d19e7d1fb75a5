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

/** What {@link OrderStore.insertOnce} is given. */
export interface NewOrder extends ValidPlaceOrder {
  id: string;
  createTime: Date;
  /** When the idempotency key may be forgotten; undefined: never. */
  idempotencyKeyExpireTime?: Date;
}

/** What {@link OrderStore.insertOnce} resolves to. */
export interface InsertOnceResult {
  /** True when this call inserted the order; false when the key already held one. */
  created: boolean;
  /** The order that holds the (user_id, request_id) key: the new one, or the earlier winner. */
  order: StoredOrder;
}

/** Persistence of orders. */
export interface OrderStore {
  /**
   * Inserts the order unless its idempotency key (user_id, request_id) is taken, atomically:
   * of any number of concurrent calls with one key exactly one inserts, and the others get the
   * winner's row back (whatever its fingerprint: comparing is the caller's job).
   */
  insertOnce(order: NewOrder): Promise<InsertOnceResult>;
  /** The order placed with this idempotency key, if any. */
  findByKey(userId: string, requestId: string): Promise<StoredOrder | undefined>;
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

/** {@link OrderStore} on PostgreSQL SQL (runs on PGlite and on a real server alike). */
export class SqlOrderStore implements OrderStore {
  constructor(private readonly db: SqlDatabase) {}

  insertOnce(order: NewOrder): Promise<InsertOnceResult> {
    // One transaction: the row and its items commit together or not at all. ON CONFLICT DO
    // NOTHING makes the unique key the arbiter (no check-then-act race): on PostgreSQL a
    // concurrent insert of the same key waits for the first transaction, then does nothing,
    // and the SELECT that follows (a new snapshot under READ COMMITTED) sees the winner.
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<{ id: string }>(
        `INSERT INTO orders (id, user_id, request_id, request_fingerprint, currency, total_cents, status, create_time, idempotency_key_expire_time)
         VALUES ($1, $2, $3, $4, $5, $6, 'PLACED', $7, $8)
         ON CONFLICT (user_id, request_id) DO NOTHING
         RETURNING id`,
        [order.id, order.userId, order.requestId, order.fingerprint, order.currency, order.totalCents.toString(), order.createTime, order.idempotencyKeyExpireTime ?? null],
      );
      if (inserted.length === 1) {
        await tx.query(
          `INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents)
           SELECT $1, (t.ord - 1)::integer, t.sku, t.quantity, t.unit_price_cents
           FROM unnest($2::text[], $3::integer[], $4::bigint[]) WITH ORDINALITY AS t(sku, quantity, unit_price_cents, ord)`,
          [order.id, order.items.map((i) => i.sku), order.items.map((i) => i.quantity), order.items.map((i) => i.unitPriceCents.toString())],
        );
        const created = await this.selectOne(tx, `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`, [order.id]);
        if (!created) throw new Error(`order ${order.id} vanished inside its own transaction`);
        return { created: true, order: created };
      }
      const winner = await this.selectOne(tx, `SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND request_id = $2`, [order.userId, order.requestId]);
      if (!winner) throw new Error(`idempotency key (${order.userId}, ${order.requestId}) conflicted but holds no order`);
      return { created: false, order: winner };
    });
  }

  findByKey(userId: string, requestId: string): Promise<StoredOrder | undefined> {
    return this.selectOne(this.db, `SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND request_id = $2`, [userId, requestId]);
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
