/**
 * The embedded default store: PGlite (PostgreSQL compiled to WebAssembly, electric-sql/pglite)
 * with its data directory on disk, so users and keys survive a restart without a database
 * server. The SQL is sql-store.ts', unchanged for real PostgreSQL.
 */
import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSqlStore, migrate } from './sql-store.js';
import type { AuthStore } from './store.js';

/**
 * Opens (creating on first use: ~4 s for initdb, then ~0.5 s per open) the PGlite database in `dataDir`,
 * relative to the working directory, mode 0700; runs the schema. One process per directory (PGlite is
 * single-user; README "Explanation: Storage").
 */
export async function openPgliteStore(dataDir: string): Promise<AuthStore> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create({ dataDir: dir });
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return createSqlStore(db, () => db.close());
}
