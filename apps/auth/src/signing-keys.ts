/**
 * The ES256 key pair tokens are signed with: generated once (jose generateKeyPair, extractable
 * so it can be stored), persisted in the store as a private JWK, loaded on every later start so
 * tokens issued before a restart still verify. Kept in the database rather than a file so that
 * replicas sharing one PostgreSQL also share the key set.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { AuthStore, SigningKeyRecord } from './store.js';

/** The one JWS algorithm this service signs and accepts (RFC 7518: ECDSA P-256 with SHA-256). */
export const SIGNING_ALG = 'ES256';

/** A loaded signing key. */
export interface SigningKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, sent as the `kid` header. */
  kid: string;
  privateKey: CryptoKey;
  /** Public members only (kty, crv, x, y) plus kid, alg and use: what the JWKS publishes. */
  publicJwk: JWK;
}

/**
 * Loads the stored signing keys, newest first, creating and storing one when there is none.
 *
 * @throws Error if a stored key's thumbprint does not match its kid (corrupt or edited row).
 */
export async function loadOrCreateSigningKeys(store: AuthStore): Promise<SigningKey[]> {
  let records = await store.listSigningKeys();
  if (records.length === 0) {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    await store.addSigningKey(await calculateJwkThumbprint(privateJwk), privateJwk);
    // Read back rather than use the key just made: if another replica stored one at the same
    // moment, every replica still ends up with the same list, in the same order.
    records = await store.listSigningKeys();
  }
  return Promise.all(records.map(toSigningKey));
}

async function toSigningKey(record: SigningKeyRecord): Promise<SigningKey> {
  const { kty, crv, x, y } = record.privateJwk;
  // The thumbprint covers only the required public members, so it is the same for the private JWK.
  const kid = await calculateJwkThumbprint({ kty, crv, x, y });
  if (kid !== record.kid) throw new Error(`signing key ${record.kid}: stored key does not match its kid (thumbprint ${kid})`);
  const privateKey = (await importJWK(record.privateJwk, SIGNING_ALG)) as CryptoKey;
  return { kid, privateKey, publicJwk: { kty, crv, x, y, kid, alg: SIGNING_ALG, use: 'sig' } };
}
