/**
 * Where orders live. The service talks to the {@link OrderStore} interface; {@link SqlOrderStore}
 * implements it with plain PostgreSQL over a {@link SqlDatabase} (PGlite, or PostgreSQL through `pg`).
 */
import { claimKey, findKey, finishKey, pruneExpiredKeys, type ClaimOptions, type IdempotencyKey, type KeyOutcome, type StoredKey } from './idempotency-keys.js';
import { countOrders, getOrder, insertOrder, listOrdersByUser, type NewOrder, type StoredOrder } from './order-rows.js';
import type { PageCursor } from './page-token.js';
import type { SqlDatabase } from './sql-database.js';
export { KeyInFlightError, PRUNE_BATCH_SIZE, type ClaimOptions, type IdempotencyKey, type KeyOutcome, type StoredKey } from './idempotency-keys.js';
export type { NewOrder, StoredLineItem, StoredOrder } from './order-rows.js';

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

/** Persistence of orders and their idempotency keys. */
export interface OrderStore {
  /**
   * Runs `work` at most once per unexpired key, in ONE transaction with the key (README "One
   * transaction"): a new or expired key is claimed and committed with `work`'s outcome; an unexpired
   * done key is returned without running `work` (fingerprints are the caller's to compare).
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

/**
 * {@link OrderStore} on PostgreSQL SQL (PGlite and a real server alike). Crash-safe because key,
 * order and outcome commit in one transaction: README "Crash safety".
 */
export class SqlOrderStore implements OrderStore {
  constructor(private readonly db: SqlDatabase) {}

  executeOnce(key: IdempotencyKey, options: ClaimOptions, work: (writer: OrderWriter) => Promise<KeyOutcome>): Promise<ExecuteOnceResult> {
    return this.db.transaction(async (tx) => {
      const claim = await claimKey(tx, key, options);
      if (!claim.claimed) return claim;
      const outcome = await work({ insertOrder: (order) => insertOrder(tx, order) });
      await finishKey(tx, key, outcome, options.now);
      return { claimed: true, outcome };
    });
  }

  findKey(key: IdempotencyKey, now: Date): Promise<StoredKey | undefined> {
    return findKey(this.db, key, now);
  }

  pruneExpiredKeys(now: Date, batchSize?: number): Promise<number> {
    return pruneExpiredKeys(this.db, now, batchSize);
  }

  get(id: string): Promise<StoredOrder | undefined> {
    return getOrder(this.db, id);
  }

  listByUser(userId: string, limit: number, cursor?: PageCursor): Promise<StoredOrder[]> {
    return listOrdersByUser(this.db, userId, limit, cursor);
  }

  count(userId?: string): Promise<number> {
    return countOrders(this.db, userId);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
