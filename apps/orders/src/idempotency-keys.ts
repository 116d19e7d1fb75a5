/**
 * The idempotency key rows in SQL: claim (or meet) a key inside the order's transaction, store its
 * outcome, read a done key, prune expired ones (README "The key table", "One transaction").
 */
import type { SqlExecutor } from './sql-database.js';

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

/** How `OrderStore.executeOnce` claims a key. */
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

/** Default number of keys {@link pruneExpiredKeys} deletes per statement. */
export const PRUNE_BATCH_SIZE = 1000;

/** PostgreSQL's SQLSTATE for a lock wait that ran into `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * On `tx`: inserts the key as 'in_flight' (new, or expired and taken over), or meets the existing
 * unexpired row, locked, as its owner committed it (waiting at most `lockTimeoutMs` for it).
 * @throws KeyInFlightError when the key stayed in flight for `lockTimeoutMs`.
 */
export async function claimKey(tx: SqlExecutor, key: IdempotencyKey, options: ClaimOptions): Promise<{ claimed: true } | { claimed: false; existing: StoredKey }> {
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
  if (claimed.length > 0) return { claimed: true };
  const [row] = await tx.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE principal = $1 AND request_id = $2`, [key.principal, key.requestId]);
  if (!row) throw new Error(`idempotency key (${key.principal}, ${key.requestId}) conflicted but is gone`);
  return { claimed: false, existing: toStoredKey(row) };
}

/** On `tx`: stores the claimed key's outcome, state 'done', finished at `now`. */
export async function finishKey(tx: SqlExecutor, key: IdempotencyKey, outcome: KeyOutcome, now: Date): Promise<void> {
  await tx.query(
    `UPDATE idempotency_keys SET state = 'done', status_code = $3, status_message = $4, response = $5, order_id = $6, finish_time = $7
     WHERE principal = $1 AND request_id = $2`,
    [key.principal, key.requestId, outcome.code, outcome.message, outcome.response ?? null, outcome.orderId ?? null, now],
  );
}

/** The key if it is done and unexpired at `now` (a plain read: never waits for an in-flight owner). */
export async function findKey(db: SqlExecutor, key: IdempotencyKey, now: Date): Promise<StoredKey | undefined> {
  const [row] = await db.query<KeyRow>(
    `SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE principal = $1 AND request_id = $2 AND state = 'done' AND expire_time > $3`,
    [key.principal, key.requestId, now],
  );
  return row ? toStoredKey(row) : undefined;
}

/** Deletes keys with expire_time <= `now`, `batchSize` per statement; resolves with the number deleted. */
export async function pruneExpiredKeys(db: SqlExecutor, now: Date, batchSize = PRUNE_BATCH_SIZE): Promise<number> {
  let total = 0;
  for (;;) {
    // DELETE has no LIMIT in PostgreSQL: pick a batch by ctid (a TID scan), skipping rows
    // another transaction holds (a key being taken over after expiry).
    const [{ n }] = await db.query<{ n: number }>(
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
