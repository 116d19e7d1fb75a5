/** The order rows in SQL: insert an order with its items, read one, a user's page, counts (tables `orders`, `order_items`). */
import type { PageCursor } from './page-token.js';
import type { ValidPlaceOrder } from './place-order-request.js';
import type { SqlExecutor } from './sql-database.js';

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

/** What {@link insertOrder} (`OrderWriter.insertOrder`) is given. */
export interface NewOrder extends ValidPlaceOrder {
  id: string;
  createTime: Date;
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

/** Inserts an order and its items on `tx`; resolves with the order as stored. */
export async function insertOrder(tx: SqlExecutor, order: NewOrder): Promise<StoredOrder> {
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
  const created = await getOrder(tx, order.id);
  if (!created) throw new Error(`order ${order.id} vanished inside its own transaction`);
  return created;
}

/** The order with this id (a UUID), if any. */
export async function getOrder(executor: SqlExecutor, id: string): Promise<StoredOrder | undefined> {
  const [order] = await withItems(executor, await executor.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`, [id]));
  return order;
}

/** Up to `limit` of the user's orders, newest first (create_time DESC, id DESC), after `cursor`. */
export async function listOrdersByUser(executor: SqlExecutor, userId: string, limit: number, cursor?: PageCursor): Promise<StoredOrder[]> {
  const rows = cursor
    ? await executor.query<OrderRow>(
        `SELECT ${ORDER_COLUMNS} FROM orders
         WHERE user_id = $1 AND (create_time, id) < ($2, $3)
         ORDER BY create_time DESC, id DESC LIMIT $4`,
        [userId, cursor.createTime, cursor.id, limit],
      )
    : await executor.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 ORDER BY create_time DESC, id DESC LIMIT $2`, [userId, limit]);
  return withItems(executor, rows);
}

/** Number of order rows (of one user when given). */
export async function countOrders(executor: SqlExecutor, userId?: string): Promise<number> {
  const rows =
    userId === undefined
      ? await executor.query<{ n: number }>('SELECT count(*)::integer AS n FROM orders')
      : await executor.query<{ n: number }>('SELECT count(*)::integer AS n FROM orders WHERE user_id = $1', [userId]);
  return rows[0].n;
}

/** Attaches items to orders with one query for the whole page (no N+1). */
async function withItems(executor: SqlExecutor, rows: OrderRow[]): Promise<StoredOrder[]> {
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
