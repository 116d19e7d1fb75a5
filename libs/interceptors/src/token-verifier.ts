/** The access-token verifier: jose's jwtVerify with every claim named (docs/interceptors.md "Token verification"), behind a bounded cache of verified tokens. */
import * as grpc from '@grpc/grpc-js';
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { createLocalJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type { KeySource, VerificationKeys } from './key-source.js';
import type { CallUser } from './call-context.js';

/**
 * The caller a verified access token names: `id` = `sub`, `username` when the token has that
 * claim (auth's access tokens do not), `roles` = the `roles` claim ([] when absent). The auth
 * interceptor puts it into the call context as `user`.
 */
export type AuthUser = CallUser;

/** Header `typ` of access tokens (RFC 9068 section 2.1), as auth issues them. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** The only JWS algorithm accepted (ECDSA P-256 SHA-256, what auth signs with). */
export const ACCESS_TOKEN_ALGORITHMS: readonly string[] = Object.freeze(['ES256']);

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  keySource: KeySource;
  /** Expected `iss`; default: the key set's issuer (from GetPublicKeys). */
  issuer?: string;
  /** Expected `aud`; default: the key set's audience (from GetPublicKeys). */
  audience?: string;
  /** Allowed clock skew for `exp`/`nbf`/`iat`, s (default 30). */
  clockToleranceS?: number;
  /** Clock, ms since epoch (tests move it). */
  now?: () => number;
  /**
   * Verified tokens remembered, at most (an LRU keyed by the token string); default
   * {@link DEFAULT_TOKEN_CACHE_ENTRIES}; 0 verifies every call.
   */
  cacheMaxEntries?: number;
}

/**
 * Default of {@link TokenVerifierOptions.cacheMaxEntries}: 10 000 tokens, about 3 MB (an ES256
 * access token is ~300 bytes, plus the user). A client that sends a new token per call only
 * evicts other entries; it never grows the cache.
 */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

/** A verified access token. */
export interface VerifiedToken {
  user: AuthUser;
  /** The token's `exp`, ms since epoch. */
  expiresAtMs: number;
}

/** Checks access tokens; see {@link createTokenVerifier}. */
export interface TokenVerifier {
  /**
   * @throws GrpcError UNAUTHENTICATED "token expired" (valid signature, `exp` + tolerance
   *   passed) or "invalid token" (anything else: malformed, bad signature, wrong `alg`, `typ`,
   *   `iss`, `aud`, unknown `kid`, not an access token); UNAVAILABLE when no keys can be had.
   */
  verify(token: string): Promise<VerifiedToken>;
  /**
   * What `verify(token)` would answer from its cache, synchronously: the verified token when it
   * is cached, unexpired and the key source's current set is known without fetching (and did
   * not change); else undefined, and the caller awaits `verify`. Optional (a verifier without a
   * cache has none). Counts as a cache hit.
   */
  verifyCached?(token: string): VerifiedToken | undefined;
  /** The clock tolerance in ms (streams end at `exp` + this). */
  readonly clockToleranceMs: number;
}

/** What the verified-token cache of {@link createTokenVerifier} did so far. */
export interface TokenCacheStats {
  /** Tokens held now. */
  entries: number;
  /** Verifications answered from the cache. */
  hits: number;
  /** Verifications that checked the signature (not cached, expired entry, cache cleared). */
  misses: number;
  /** Times the cache was emptied because the key set changed. */
  clears: number;
}

/** {@link TokenVerifier} with its cache's counters. */
export interface CachingTokenVerifier extends TokenVerifier {
  cacheStats(): TokenCacheStats;
  verifyCached(token: string): VerifiedToken | undefined;
}

interface CachedToken {
  user: AuthUser;
  expiresAtMs: number;
}

/** Identity of a key set for the cache: the keys, issuer and audience (a refetch of the same keys keeps the cache). */
function keySetFingerprint(keys: VerificationKeys): string {
  return JSON.stringify([keys.issuer, keys.audience, keys.keys.map((k) => [k.kid, k.kty, k.crv, k.x, k.y, k.alg, k.use])]);
}

/**
 * Verifies access tokens locally with jose (ES256, typ "at+jwt", iss, aud, clock tolerance, sub/exp/iat, `token_use`
 * "access", `roles`), remembering verified ones in an LRU until their `exp`, dropped when the key set changes
 * (docs/interceptors.md "Token verification (step 7)").
 */
export function createTokenVerifier(options: TokenVerifierOptions): CachingTokenVerifier {
  const clockToleranceS = options.clockToleranceS ?? 30;
  const now = options.now ?? Date.now;
  const maxEntries = options.cacheMaxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
  const cache = maxEntries > 0 ? new LRUCache<string, CachedToken>({ max: maxEntries }) : undefined;
  const stats = { hits: 0, misses: 0, clears: 0 };
  // The key set the cached entries were verified with (identity first, fingerprint on change).
  let cachedFor: VerificationKeys | undefined;
  let cachedFingerprint: string | undefined;
  const useKeys = (keys: VerificationKeys) => {
    if (!cache || keys === cachedFor) return;
    const fingerprint = keySetFingerprint(keys);
    if (cachedFingerprint !== undefined && fingerprint !== cachedFingerprint) {
      cache.clear();
      stats.clears++;
    }
    cachedFor = keys;
    cachedFingerprint = fingerprint;
  };
  const copy = (entry: CachedToken): VerifiedToken => ({ user: { ...entry.user, roles: [...entry.user.roles] }, expiresAtMs: entry.expiresAtMs });
  // One jose key set per fetched key list: createLocalJWKSet picks the key by kid, alg and kty.
  const localSets = new WeakMap<VerificationKeys, JWTVerifyGetKey>();
  const localSet = (keys: VerificationKeys) => {
    let set = localSets.get(keys);
    if (!set) {
      set = createLocalJWKSet({ keys: keys.keys });
      localSets.set(keys, set);
    }
    return set;
  };

  // The cached answer for `token` under `keys`, counted as a hit; undefined (nothing counted) if none.
  const cachedAnswer = (token: string, keys: VerificationKeys): VerifiedToken | undefined => {
    if (!cache) return undefined;
    useKeys(keys);
    const hit = cache.get(token);
    if (!hit) return undefined;
    if (now() >= hit.expiresAtMs) {
      cache.delete(token);
      return undefined;
    }
    stats.hits++;
    return copy(hit);
  };

  return {
    clockToleranceMs: clockToleranceS * 1000,
    cacheStats: () => ({ entries: cache?.size ?? 0, ...stats }),
    verifyCached(token) {
      const keys = options.keySource.current?.();
      return keys && cachedAnswer(token, keys);
    },
    async verify(token) {
      let keys = await options.keySource.get();
      if (cache) {
        const hit = cachedAnswer(token, keys);
        if (hit) return hit;
        stats.misses++;
      }
      const getKey: JWTVerifyGetKey = async (header, jws) => {
        if (header.kid !== undefined && !keys.keys.some((k) => k.kid === header.kid)) keys = await options.keySource.refresh();
        return localSet(keys)(header, jws);
      };
      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms: [...ACCESS_TOKEN_ALGORITHMS],
          typ: ACCESS_TOKEN_TYP,
          issuer: options.issuer ?? keys.issuer,
          audience: options.audience ?? keys.audience,
          clockTolerance: clockToleranceS,
          requiredClaims: ['sub', 'exp', 'iat'],
          currentDate: new Date(now()),
        }));
      } catch (error) {
        // jose checks the signature before the claims, so "expired" is said only of a genuine token.
        if (error instanceof errors.JWTExpired) throw new GrpcError(grpc.status.UNAUTHENTICATED, 'token expired');
        if (error instanceof errors.JOSEError) throw new GrpcError(grpc.status.UNAUTHENTICATED, 'invalid token');
        throw error;
      }
      const roles = payload.roles ?? [];
      if (payload.token_use !== 'access' || typeof payload.sub !== 'string' || !Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
        throw new GrpcError(grpc.status.UNAUTHENTICATED, 'invalid token');
      }
      const user: AuthUser = { id: payload.sub, roles: roles as string[] };
      if (typeof payload.username === 'string') user.username = payload.username;
      const verified = { user, expiresAtMs: (payload.exp as number) * 1000 };
      if (cache && now() < verified.expiresAtMs) {
        // The set that verified it (a refresh on an unknown kid may have replaced it).
        useKeys(keys);
        cache.set(token, copy(verified));
      }
      return verified;
    },
  };
}
