/**
 * What the auth service needs from storage, and nothing about how it is stored. The SQL
 * implementation is in sql-store.ts; pglite-store.ts opens it on an embedded PostgreSQL.
 */
import type { JWK } from 'jose';

/** A user row. `passwordHash` never leaves the service. */
export interface UserRecord {
  /** UUID, lower case. */
  id: string;
  username: string;
  displayName: string;
  /** PHC scrypt string (password-hasher.ts). */
  passwordHash: string;
  roles: string[];
  createTime: Date;
}

/** A stored ES256 signing key. */
export interface SigningKeyRecord {
  /** RFC 7638 JWK thumbprint of the public key. */
  kid: string;
  /** The private key as a JWK (EC P-256, with `d`). */
  privateJwk: JWK;
  createTime: Date;
}

/** What {@link AuthStore.rotateRefreshToken} found. */
export type RotationOutcome =
  /** `jti` was the family's current token: `nextJti` is now. */
  | 'rotated'
  /** `jti` was a token of the family already rotated away: the family is revoked now. */
  | 'reused'
  /** The family was revoked before (an earlier reuse). */
  | 'revoked'
  /** No such family (a token issued before rotation existed, or a deleted user). */
  | 'unknown';

/** A refresh token family: the tokens one Login started, each replacing the last (RFC 9700 section 4.14.2). */
export interface RefreshFamilyRecord {
  /** UUID, the `fam` claim of every refresh token of the family. */
  id: string;
  userId: string;
  /** `jti` of the one refresh token of the family that is valid now. */
  currentJti: string;
  /** `exp` of that token. */
  expireTime: Date;
}

/** Storage of users and signing keys. Every method may reject with a storage error (INTERNAL). */
export interface AuthStore {
  /** Inserts a user; resolves to undefined if the username is taken (nothing is written then). */
  createUser(user: Omit<UserRecord, 'createTime'>): Promise<UserRecord | undefined>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  /** `id` must be a UUID (callers validate it first). */
  findUserById(id: string): Promise<UserRecord | undefined>;
  /** Replaces a user's password hash (used to re-hash with stronger scrypt parameters). */
  updatePasswordHash(id: string, passwordHash: string): Promise<void>;
  /** Adds a signing key; a key with the same kid already there is kept as it is. */
  addSigningKey(kid: string, privateJwk: JWK): Promise<void>;
  /** Every signing key, newest first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Starts a refresh token family (Login); also deletes the user's expired families. */
  createRefreshFamily(family: RefreshFamilyRecord): Promise<void>;
  /**
   * Atomically replaces the family's current `jti` with `nextJti` (and its expiry) when `jti`
   * is current; when `jti` is an older token of the family, revokes the family instead.
   */
  rotateRefreshToken(familyId: string, jti: string, nextJti: string, expireTime: Date): Promise<RotationOutcome>;
  /** Releases the database; the store is unusable afterwards. */
  close(): Promise<void>;
}
