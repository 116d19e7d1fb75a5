/**
 * The narrow SQL surface the order store needs, so the same SQL runs on PGlite (embedded
 * PostgreSQL, the default) and, later, on PostgreSQL through `pg` (DATABASE_URL): only an
 * adapter is added then, the store and migrations stay as they are.
 */
import { PGlite } from '@electric-sql/pglite';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';

/** Runs parameterized statements ($1, $2, ...); rows come back as objects keyed by column. */
export interface SqlExecutor {
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs one or more statements without parameters (simple query protocol; migrations). */
  exec(sql: string): Promise<void>;
}

/** A database: statements, transactions and close. */
export interface SqlDatabase extends SqlExecutor {
  /**
   * Runs `fn` in one transaction (BEGIN ... COMMIT, ROLLBACK when it throws) and resolves with
   * its result. Use only the `tx` given: on PGlite a statement on the database object from
   * inside `fn` would wait for the transaction to end, i.e. forever.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens (creating if needed) a PGlite database in `dataDir`.
 *
 * PGlite is one PostgreSQL backend in this process: a single connection. Its `transaction()`
 * holds a mutex for the whole transaction, and `query()` waits on the same mutex, so
 * concurrent gRPC calls are serialized correctly (no statement of another call can land inside
 * an open transaction). Every statement is synced to disk before it resolves (no
 * `relaxedDurability`), so an acknowledged order survives a crash.
 */
export async function openPgliteDatabase(dataDir: string): Promise<SqlDatabase> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const executor = (target: Pick<PGlite, 'query' | 'exec'>): SqlExecutor => ({
    async query<Row>(sql: string, params: unknown[] = []) {
      return (await target.query<Row>(sql, params)).rows;
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  });
  return {
    ...executor(db),
    transaction: (fn) => db.transaction((tx) => fn(executor(tx))),
    close: () => db.close(),
  };
}
