/** Where the auth interceptor's verification keys come from: static (auth itself) or auth's GetPublicKeys, cached and refetched on an unknown kid (docs/interceptors.md "Token verification"). */
import * as grpc from '@grpc/grpc-js';
import { createClient, GrpcError, unaryCall, type CreateClientOptions } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { type JWK } from 'jose';

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
 * Keys from auth.v1.AuthService/GetPublicKeys, cached: refetched on an unknown `kid` once per `cooldownMs`, and when
 * older than `maxAgeMs` (docs/interceptors.md "Token verification (step 7)").
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
