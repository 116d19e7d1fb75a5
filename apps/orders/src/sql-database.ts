/**
 * The narrow SQL surface the order store needs, so the same SQL runs on PGlite (embedded
 * PostgreSQL, the default) and on a PostgreSQL server through `pg` (DATABASE_URL): the store
 * and the migrations are the same, only the adapter differs.
 */
import { PGlite } from '@electric-sql/pglite';
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { status } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';

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
 * Opens (creating if needed) a PGlite database in `dataDir`: one connection, transactions serialized by its
 * mutex, every statement synced to disk before it resolves (README "Explanation: Store").
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

/** Options of {@link openPgDatabase}. */
export interface PgDatabaseOptions {
  /** Pool size (connections); default 10. */
  max?: number;
  /** Time to wait for a new connection, ms; default 5 000 (then UNAVAILABLE). */
  connectionTimeoutMillis?: number;
  /** Told about errors of idle connections (server restart, terminated backend). */
  onIdleError?: (error: Error) => void;
}

/**
 * Opens a `pg.Pool` on a PostgreSQL server (`postgres://user@host:port/db`), probed once with `SELECT 1`.
 * Errors: a lost connection is GrpcError UNAVAILABLE `database unavailable` (retryable; the pool reconnects), not
 * INTERNAL (README "Orders on PostgreSQL").
 */
export async function openPgDatabase(url: string, options: PgDatabaseOptions = {}): Promise<SqlDatabase> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000 });
  // An idle connection that dies (server restart, pg_terminate_backend) emits 'error' on the
  // pool; unhandled, that would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  const executor = (target: pg.Pool | pg.PoolClient): SqlExecutor => ({
    async query<Row>(sql: string, params: unknown[] = []) {
      try {
        return (await target.query(sql, params)).rows as Row[];
      } catch (error) {
        throw asUnavailable(error);
      }
    },
    async exec(sql: string) {
      try {
        await target.query(sql);
      } catch (error) {
        throw asUnavailable(error);
      }
    },
  });
  const db: SqlDatabase = {
    ...executor(pool),
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw asUnavailable(error);
      }
      let broken: Error | undefined;
      // A connection that dies between two statements emits 'error' on the checked-out client;
      // unhandled, that would crash the process (the next statement fails and says why).
      const ignore = () => undefined;
      client.on('error', ignore);
      try {
        await client.query('BEGIN');
        const result = await fn(executor(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        const cause = error instanceof GrpcError ? (error as Error & { cause?: unknown }).cause : error;
        if (isConnectionError(cause)) broken = cause as Error;
        else {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackError) {
            broken = rollbackError as Error;
          }
        }
        throw asUnavailable(error);
      } finally {
        client.off('error', ignore);
        // release(error) destroys the connection instead of pooling it.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
  try {
    await db.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return db;
}

/** SQLSTATE classes and codes that mean "the connection or the server went away". */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Whether `error` says the connection is unusable, not the statement wrong: SQLSTATE class 08, 57P01..57P03,
 * 53300, socket errors, and node-postgres' own messages for a connection that ended or timed out.
 */
export function isConnectionError(error: unknown): boolean {
  // Duck-typed, not `instanceof Error`: socket errors are made by Node's core, which is another
  // realm under jest's VM (and node-postgres builds some errors from plain objects).
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || CONNECTION_SQLSTATES.has(code) || CONNECTION_ERRNOS.has(code))) return true;
  return typeof message === 'string' && /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect/i.test(message);
}

/** A connection error as GrpcError UNAVAILABLE (the detail stays in `cause`); others unchanged. */
function asUnavailable(error: unknown): unknown {
  if (error instanceof GrpcError || !isConnectionError(error)) return error;
  const unavailable = new GrpcError(status.UNAVAILABLE, 'database unavailable');
  (unavailable as Error & { cause?: unknown }).cause = error;
  return unavailable;
}
