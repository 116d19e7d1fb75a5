/**
 * Real PostgreSQL for the specs: they run when DATABASE_URL is set (a server where that URL's
 * user may CREATE DATABASE), are skipped with the reason otherwise, and fail under CI=true
 * (where .ci/run sets DATABASE_URL, so a missing one is a broken set-up, not an excuse).
 *
 * Isolation: each spec file creates its own database `orders_<random>` on that server and drops
 * it in afterAll (after terminating its connections), so spec files running in parallel and
 * re-runs never see each other's rows.
 */
import { createTestDatabase as createSharedTestDatabase, describeRequiring, type TestDatabase } from '@grpc-patterns/testing';

export type { TestDatabase };

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
  describeRequiring(name, availability.available ? undefined : availability.reason, body);
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

/** `url` with its database path replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Creates `<prefix>_<random>` on the DATABASE_URL server (libs/testing's createTestDatabase). */
export function createTestDatabase(prefix = 'orders'): Promise<TestDatabase> {
  return createSharedTestDatabase(SERVER_URL, prefix);
}
