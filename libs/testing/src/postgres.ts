/**
 * A PostgreSQL database of a test's own on a real server (DATABASE_URL): created with a random
 * name, dropped afterwards (its connections terminated first), so spec files running in parallel
 * and re-runs never see each other's rows. Suites run when DATABASE_URL is set and skip with the
 * reason otherwise, except under CI=true (where .ci/run sets it), where a missing URL fails.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A database of its own on a PostgreSQL server. */
export interface TestDatabase {
  name: string;
  /** The server URL with the database replaced by {@link name}. */
  url: string;
  /** One statement on it, through a short-lived connection; resolves with the rows. */
  query<Row extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Terminates its connections and drops it. */
  drop(): Promise<void>;
}

/** One statement on the database `url` names, through a short-lived connection. */
export async function queryOnce<Row extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Creates `<prefix>_<12 hex digits>` on the server `serverUrl` names (its user needs CREATEDB).
 *
 * @throws Error when `serverUrl` is unset (the message names DATABASE_URL) or the server refuses.
 */
export async function createTestDatabase(serverUrl: string | undefined, prefix: string): Promise<TestDatabase> {
  if (!serverUrl) throw new Error('PostgreSQL is required under CI=true: DATABASE_URL is not set');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await queryOnce(serverUrl, `CREATE DATABASE ${name}`);
  const parsed = new URL(serverUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  return {
    name,
    url,
    query: (sql, params) => queryOnce(url, sql, params),
    async drop() {
      await queryOnce(serverUrl, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await queryOnce(serverUrl, `DROP DATABASE IF EXISTS ${name}`);
    },
  };
}
