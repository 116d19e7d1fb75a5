/**
 * Authentication: a Bearer JWT (RFC 6750) from the `authorization` metadata, verified locally
 * with jose against auth's public keys. Auth is not on every call's path: keys come from
 * auth.v1.AuthService/GetPublicKeys (a JWKS, RFC 7517), are cached, and are fetched again when
 * a token names a `kid` the cache does not know (key rotation), at most once per cooldown, the
 * way jose's `createRemoteJWKSet` does (`cooldownDuration`, 30 s).
 *
 * Verification names everything (RFC 8725, JWT BCP, section 3): algorithms ['ES256'] only (so
 * `alg: none` and HS256 signed with the public key are refused), header `typ` "at+jwt"
 * (RFC 9068), `iss`, `aud`, a clock tolerance, and the claim `token_use: "access"` (auth's
 * refresh tokens carry "refresh"; apps/auth/src/token-issuer.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, GrpcError, toStatus, unaryCall, type CreateClientOptions } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { createLocalJWKSet, errors, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { callContext, recordStatus, runInCallContext, type CallUser } from './call-context.js';
import type { PeerFailureBudget } from './auth-failure-budget.js';
import { isPublicMethod, PUBLIC_METHODS } from './public-methods.js';

/**
 * The caller a verified access token names: `id` = `sub`, `username` when the token has that
 * claim (auth's access tokens do not), `roles` = the `roles` claim ([] when absent). The auth
 * interceptor puts it into the call context as `user`.
 */
export type AuthUser = CallUser;

/** A public key set and the claims tokens signed with it carry (auth's GetPublicKeysResponse). */
export interface VerificationKeys {
  /** Public JWKs (kty, crv, x, y, kid, alg, use). */
  keys: JWK[];
  /** The `iss` the tokens carry. */
  issuer: string;
  /** The `aud` access tokens carry. */
  audience: string;
}

/**
 * Where the verifier gets keys. `get()` returns the cached set (loading it the first time);
 * `refresh()` is called when a token names an unknown `kid` and may fetch again (a source
 * decides how often it really does).
 */
export interface KeySource {
  get(): Promise<VerificationKeys>;
  refresh(): Promise<VerificationKeys>;
  /**
   * The set `get()` would resolve with right now without fetching, or undefined when it would
   * fetch (first use, a stale set, a fetch in flight). Optional: lets the verifier answer a
   * cached token without awaiting (see {@link TokenVerifier.verifyCached}).
   */
  current?(): VerificationKeys | undefined;
}

/**
 * A fixed key set: the auth service itself passes its own public keys (it cannot call itself
 * over gRPC at start-up), and tests pass generated ones.
 */
export function staticKeySource(keys: VerificationKeys): KeySource {
  const promise = Promise.resolve(keys);
  return { get: () => promise, refresh: () => promise, current: () => keys };
}

/** Options of {@link grpcKeySource}. */
export interface GrpcKeySourceOptions {
  /** gRPC target URI of auth, e.g. `ipv4:127.0.0.1:50051` (AUTH_TARGET). */
  target: string;
  /** Options of the (shared-channel) client. */
  clientOptions?: CreateClientOptions;
  /** Deadline of one GetPublicKeys call, ms (default 2000). */
  deadlineMs?: number;
  /** Minimum time between two fetches caused by unknown `kid`s, ms (default 30 000, jose's cooldownDuration). */
  cooldownMs?: number;
  /** A cached set older than this is fetched again on next use, ms (default 600 000, jose's cacheMaxAge). */
  maxAgeMs?: number;
  /** After a failed fetch, the next one is allowed this much later, ms (default 1000). */
  retryAfterFailureMs?: number;
  /** Clock, ms since epoch (tests move it). */
  now?: () => number;
  /** Called with the error of a failed GetPublicKeys call (log it; the token is never involved). */
  onFetchError?: (error: unknown) => void;
}

/** A {@link KeySource} that fetches from auth; `fetchCount()` says how many GetPublicKeys calls it made. */
export interface GrpcKeySource extends KeySource {
  fetchCount(): number;
}

/**
 * Keys from auth.v1.AuthService/GetPublicKeys over gRPC (createClient + unaryCall):
 * - first use fetches (concurrent callers share one call);
 * - `refresh()` (an unknown `kid`) fetches again only if `cooldownMs` has passed since the last
 *   fetch, else returns the cache: a flood of tokens with made-up `kid`s costs auth one call
 *   per cooldown;
 * - a set older than `maxAgeMs` is fetched again (so a removed key stops verifying); if that
 *   fetch fails the old set is kept.
 *
 * @throws GrpcError UNAVAILABLE "token keys unavailable" when no key set could be fetched yet.
 */
export function grpcKeySource(options: GrpcKeySourceOptions): GrpcKeySource {
  const now = options.now ?? Date.now;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const maxAgeMs = options.maxAgeMs ?? 600_000;
  const retryAfterFailureMs = options.retryAfterFailureMs ?? 1_000;
  let cached: { keys: VerificationKeys; fetchedAt: number } | undefined;
  let inflight: Promise<VerificationKeys> | undefined;
  let lastAttempt = -Infinity;
  let lastFailure = -Infinity;
  let fetches = 0;

  // UNAVAILABLE tells the client to retry, and RetryInfo says when auth may be asked again.
  const unavailable = () => new GrpcError(grpc.status.UNAVAILABLE, 'token keys unavailable', undefined, undefined, [{ type: 'RetryInfo', retryDelayMs: retryAfterFailureMs }]);
  const failedRecently = () => now() - lastFailure < retryAfterFailureMs;

  function fetchKeys(): Promise<VerificationKeys> {
    inflight ??= (async () => {
      lastAttempt = now();
      fetches++;
      try {
        const client = createClient(authV1.AuthServiceClient, options.target, options.clientOptions);
        const response = await unaryCall(client.getPublicKeys.bind(client), {}, { deadline: Date.now() + (options.deadlineMs ?? 2_000) });
        const keys = { keys: response.keys.map(toJwk), issuer: response.issuer, audience: response.audience };
        cached = { keys, fetchedAt: now() };
        return keys;
      } catch (error) {
        lastFailure = now();
        options.onFetchError?.(error);
        if (cached) return cached.keys;
        throw unavailable();
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  async function get(): Promise<VerificationKeys> {
    if (inflight) return inflight;
    if (!cached) {
      if (failedRecently()) throw unavailable();
      return fetchKeys();
    }
    if (now() - cached.fetchedAt >= maxAgeMs && !failedRecently()) return fetchKeys();
    return cached.keys;
  }

  async function refresh(): Promise<VerificationKeys> {
    if (inflight) return inflight;
    if (!cached) return get();
    if (now() - lastAttempt < cooldownMs) return cached.keys;
    return fetchKeys();
  }

  // What get() returns without fetching, decided as get() decides it.
  function current(): VerificationKeys | undefined {
    if (inflight || !cached) return undefined;
    if (now() - cached.fetchedAt >= maxAgeMs && !failedRecently()) return undefined;
    return cached.keys;
  }

  return {
    get,
    refresh,
    current,
    fetchCount: () => fetches,
  };
}

function toJwk(key: authV1.Jwk): JWK {
  return { kty: key.kty, crv: key.crv, x: key.x, y: key.y, kid: key.kid, alg: key.alg, use: key.use };
}

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
 * Verifies access tokens locally: jose `jwtVerify` with a key resolver over the key source
 * (unknown `kid` -> one `refresh()`), algorithms ['ES256'], typ "at+jwt", issuer, audience,
 * clock tolerance, required claims sub/exp/iat, then `token_use === "access"` and `roles` a
 * string array.
 *
 * Verified tokens are remembered (how Envoy's jwt_authn caches them): an LRU of at most
 * `cacheMaxEntries` keyed by the token string; an entry answers until the token's `exp` and
 * never past it (a token inside its clock tolerance is verified in full on every call, never
 * cached); the whole cache is dropped when the key set the source returns changes (rotation, a
 * removed key: its tokens are then checked against the new set). Failures are never cached.
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

/**
 * The token from `authorization: Bearer <token>` (RFC 6750 section 2.1; the scheme is
 * case-insensitive), or undefined when there is none.
 */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer +([^\s]+)\s*$/i.exec(value);
  return match?.[1];
}

/** Options of {@link authInterceptor}. */
export interface AuthInterceptorOptions {
  verifier: TokenVerifier;
  /** Methods that need no token (default {@link PUBLIC_METHODS}). */
  publicMethods?: readonly string[];
  /** Where unexpected verifier errors go (they become INTERNAL for the client). */
  report?: (error: unknown) => void;
  /**
   * Failed token checks per peer address (auth-failure-budget.ts): a peer that spent it gets
   * RESOURCE_EXHAUSTED with RetryInfo before its token is verified. Default: none.
   */
  failureBudget?: PeerFailureBudget;
}

/**
 * Server interceptor: every call to a method not in `publicMethods` needs a valid access token.
 * - no `authorization: Bearer ...` metadata: UNAUTHENTICATED "missing bearer token";
 * - a token that does not verify: UNAUTHENTICATED "invalid token" (or "token expired"); the
 *   token itself is never echoed or logged;
 * - keys cannot be fetched: UNAVAILABLE "token keys unavailable";
 * - with a `failureBudget`, a peer address whose tokens failed too often in its window:
 *   RESOURCE_EXHAUSTED "too many failed authentications from this address" with RetryInfo,
 *   before any signature check (issue 17, finding 5).
 * The verified user goes into the call context (`callContext(...).user`, and
 * `currentCallContext()?.user` in handlers) before the call goes on.
 *
 * Streaming calls (client, server or bidi) are ended with UNAUTHENTICATED "token expired" when
 * the token's `exp` (+ clock tolerance) passes while they are open; the timer is cleared when
 * the call ends. Works for all four call shapes: the check runs on the request metadata, before
 * grpc-js reads any message or calls the handler.
 */
export function authInterceptor(options: AuthInterceptorOptions): grpc.ServerInterceptor {
  const publicMethods = options.publicMethods ?? PUBLIC_METHODS;
  const report = options.report ?? ((error: unknown) => console.error('auth interceptor: unexpected error', error));
  return (method, call) => {
    if (isPublicMethod(method.path, publicMethods)) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    const streaming = method.requestStream || method.responseStream;
    let ended = false;
    let expiry: NodeJS.Timeout | undefined;
    const finish = () => {
      ended = true;
      if (expiry) clearTimeout(expiry);
    };
    const reject = (error: unknown) => {
      if (ended) return;
      finish();
      const st = toStatus(error, report);
      recordStatus(ctx, st);
      call.sendStatus({ code: st.code, details: st.details, metadata: st.metadata ?? new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const token = bearerToken(metadata);
            if (token === undefined) return reject(new GrpcError(grpc.status.UNAUTHENTICATED, 'missing bearer token'));
            const budget = options.failureBudget;
            const peer = call.getPeer();
            const proceed = ({ user, expiresAtMs }: { user: AuthUser; expiresAtMs: number }) => {
              if (ended) return;
              ctx.user = user;
              if (streaming) {
                const delay = Math.min(Math.max(0, expiresAtMs + options.verifier.clockToleranceMs - Date.now()), MAX_TIMER_MS);
                expiry = setTimeout(() => reject(new GrpcError(grpc.status.UNAUTHENTICATED, 'token expired')), delay);
                expiry.unref();
              }
              runInCallContext(ctx, () => nextMetadata(metadata));
            };
            // Fast path: the answer is known now (a cached, unexpired token and a peer that has
            // not spent its budget), so the call goes on without awaiting anything.
            if (!budget || (budget.spent !== undefined && !budget.spent(peer))) {
              const known = options.verifier.verifyCached?.(token);
              if (known) return proceed(known);
            }
            // A peer that spent its failure budget is refused before the signature check.
            const verified = budget
              ? budget.blocked(peer).then((refusal) => {
                  if (refusal) throw refusal;
                  return options.verifier.verify(token).catch(async (error: unknown) => {
                    if (error instanceof GrpcError && error.code === grpc.status.UNAUTHENTICATED) await budget.failed(peer);
                    throw error;
                  });
                })
              : options.verifier.verify(token);
            verified.then(proceed, reject);
          },
          // The user is in the context from here on: keep it active for the handler too.
          onReceiveMessage: (message, nextMessage) => runInCallContext(ctx, () => nextMessage(message)),
          onReceiveHalfClose: (nextHalfClose) => runInCallContext(ctx, nextHalfClose),
          onCancel: finish,
        }),
      sendStatus: (st, next) => {
        finish();
        next(st);
      },
    });
  };
}

/** setTimeout's upper bound (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
