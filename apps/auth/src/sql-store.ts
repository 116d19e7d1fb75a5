/**
 * {@link AuthStore} in plain SQL that runs on PostgreSQL and on PGlite alike: one statement per
 * query, `$n` parameters, no extensions. Any client with node-postgres' `query(text, values)`
 * shape works (a `pg.Pool` when DATABASE_URL comes, a PGlite instance today).
 */
import type { JWK } from 'jose';
import type { AuthStore, RotationOutcome, SigningKeyRecord, UserRecord } from './store.js';

/** The one method used from a SQL client (node-postgres and PGlite both have it). */
export interface SqlClient {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * The schema, idempotent so every start can run it. Usernames are unique in the database, so
 * two concurrent Register calls for one name cannot both succeed.
 */
export const SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    roles text[] NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE IF NOT EXISTS signing_keys (
    kid text PRIMARY KEY,
    private_jwk jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT clock_timestamp()
  )`,
  // One row per Login: the refresh token valid now (rotation), and whether the family was
  // revoked because an older token of it came back (reuse detection).
  `CREATE TABLE IF NOT EXISTS refresh_families (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_jti uuid NOT NULL,
    expire_time timestamptz NOT NULL,
    revoke_time timestamptz,
    create_time timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE INDEX IF NOT EXISTS refresh_families_user_id ON refresh_families (user_id)`,
];

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  roles: string[];
  create_time: Date;
}

interface SigningKeyRow {
  kid: string;
  private_jwk: JWK | string;
  create_time: Date;
}

const USER_COLUMNS = 'id, username, display_name, password_hash, roles, create_time';

/** Creates the tables if needed. */
export async function migrate(client: SqlClient): Promise<void> {
  for (const statement of SCHEMA) await client.query(statement);
}

/** An {@link AuthStore} over `client`; `close` releases it. Run {@link migrate} first. */
export function createSqlStore(client: SqlClient, close: () => Promise<void>): AuthStore {
  const one = async (text: string, values: unknown[]) => {
    const { rows } = await client.query<UserRow>(text, values);
    return rows[0] === undefined ? undefined : toUser(rows[0]);
  };
  return {
    createUser(user) {
      // ON CONFLICT DO NOTHING instead of catching unique_violation (23505): a taken name is an
      // expected outcome, and the statement stays valid inside a larger transaction.
      return one(
        `INSERT INTO users (id, username, display_name, password_hash, roles)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING
         RETURNING ${USER_COLUMNS}`,
        [user.id, user.username, user.displayName, user.passwordHash, user.roles],
      );
    },
    findUserByUsername(username) {
      return one(`SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]);
    },
    findUserById(id) {
      return one(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
    },
    async updatePasswordHash(id, passwordHash) {
      await client.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash]);
    },
    async addSigningKey(kid, privateJwk) {
      await client.query('INSERT INTO signing_keys (kid, private_jwk) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING', [kid, JSON.stringify(privateJwk)]);
    },
    async createRefreshFamily(family) {
      await client.query('DELETE FROM refresh_families WHERE user_id = $1 AND expire_time < now()', [family.userId]);
      await client.query('INSERT INTO refresh_families (id, user_id, current_jti, expire_time) VALUES ($1, $2, $3, $4)', [family.id, family.userId, family.currentJti, family.expireTime]);
    },
    async rotateRefreshToken(familyId, jti, nextJti, expireTime): Promise<RotationOutcome> {
      // One statement: of two concurrent refreshes with the same token only one can match.
      const rotated = await client.query<{ id: string }>(
        'UPDATE refresh_families SET current_jti = $3, expire_time = $4 WHERE id = $1 AND current_jti = $2 AND revoke_time IS NULL RETURNING id',
        [familyId, jti, nextJti, expireTime],
      );
      if (rotated.rows.length > 0) return 'rotated';
      const { rows } = await client.query<{ revoked: boolean }>(
        `WITH old AS (SELECT revoke_time FROM refresh_families WHERE id = $1 FOR UPDATE)
         UPDATE refresh_families f SET revoke_time = COALESCE(f.revoke_time, now()) FROM old WHERE f.id = $1
         RETURNING old.revoke_time IS NOT NULL AS revoked`,
        [familyId],
      );
      if (rows[0] === undefined) return 'unknown';
      return rows[0].revoked ? 'revoked' : 'reused';
    },
    async listSigningKeys() {
      const { rows } = await client.query<SigningKeyRow>('SELECT kid, private_jwk, create_time FROM signing_keys ORDER BY create_time DESC, kid');
      return rows.map(toSigningKey);
    },
    close,
  };
}

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    passwordHash: row.password_hash,
    roles: row.roles,
    createTime: new Date(row.create_time),
  };
}

function toSigningKey(row: SigningKeyRow): SigningKeyRecord {
  // jsonb comes back parsed from both clients; a string would mean a driver without the parser.
  const privateJwk = typeof row.private_jwk === 'string' ? (JSON.parse(row.private_jwk) as JWK) : row.private_jwk;
  return { kid: row.kid, privateJwk, createTime: new Date(row.create_time) };
}
