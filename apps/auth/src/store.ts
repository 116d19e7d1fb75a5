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
  /** Releases the database; the store is unusable afterwards. */
  close(): Promise<void>;
}
