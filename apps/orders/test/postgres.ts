/**
 * Real PostgreSQL for the specs: they run when DATABASE_URL is set (a server where that URL's
 * user may CREATE DATABASE), are skipped with the reason otherwise, and fail under CI=true
 * (where .ci/run sets DATABASE_URL, so a missing one is a broken set-up, not an excuse).
 *
 * Isolation: each spec file creates its own database `orders_<random>` on that server and drops
 * it in afterAll (after terminating its connections), so spec files running in parallel and
 * re-runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server URL from the environment, or undefined. */
export const SERVER_URL: string | undefined = process.env['DATABASE_URL'] || undefined;

/** Whether the PostgreSQL specs run here, and if not why. */
export function postgresAvailability(): { available: true; url: string } | { available: false; reason: string } {
  if (SERVER_URL) return { available: true, url: SERVER_URL };
  return { available: false, reason: 'DATABASE_URL is not set (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test; .ci/run sets it)' };
}

/**
 * `describe` when DATABASE_URL is set or CI=true (where a missing URL then fails in
 * {@link createTestDatabase}), else `describe.skip` after printing why.
 */
export function describeWithPostgres(name: string, body: () => void): void {
  const availability = postgresAvailability();
  if (availability.available || process.env['CI'] === 'true') {
    describe(name, body);
  } else {
    console.warn(`SKIPPED "${name}": ${availability.reason}`);
    describe.skip(name, body);
  }
}

/** Whether a spec runs its PostgreSQL cases: DATABASE_URL is set, or CI=true (where a missing URL then fails). */
export const postgresRequested: boolean = postgresAvailability().available || process.env['CI'] === 'true';

/**
 * The backends a spec parameterised over both runs: PGlite always, PostgreSQL when
 * {@link postgresRequested} (otherwise it prints why the PostgreSQL half of `name` is skipped).
 */
export function backendsUnderTest(name: string): Array<'pglite' | 'postgres'> {
  if (postgresRequested) return ['pglite', 'postgres'];
  console.warn(`SKIPPED the PostgreSQL backend of "${name}": ${(postgresAvailability() as { reason: string }).reason}`);
  return ['pglite'];
}

/** A database of its own on the DATABASE_URL server. */
export interface TestDatabase {
  name: string;
  /** DATABASE_URL with the database replaced by {@link name}. */
  url: string;
  /** A statement on it, through a short-lived connection. */
  query<Row extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Terminates its connections and drops it. */
  drop(): Promise<void>;
}

/** `url` with its database path replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs `sql` on the server's own database (the one DATABASE_URL names). */
async function onServer<Row extends pg.QueryResultRow>(sql: string, params: unknown[] = [], url = SERVER_URL): Promise<Row[]> {
  if (!url) throw new Error('PostgreSQL is required under CI=true: DATABASE_URL is not set');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Creates `orders_<random>` on the DATABASE_URL server. */
export async function createTestDatabase(prefix = 'orders'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = withDatabase(SERVER_URL as string, name);
  return {
    name,
    url,
    query: (sql, params) => onServer(sql, params, url),
    async drop() {
      await onServer('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await onServer(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}
