/**
 * Issues access and refresh tokens (compact JWS, ES256) and checks refresh tokens.
 *
 * The two kinds cannot be swapped:
 * - access tokens have header `typ: "at+jwt"` (RFC 9068, JWT profile for OAuth 2.0 access
 *   tokens, section 2.1), `aud` = the configured audience and `token_use: "access"`;
 * - refresh tokens have header `typ: "refresh+jwt"`, `aud` = the issuer itself and
 *   `token_use: "refresh"`. A service checking `aud` (as every jose jwtVerify call with
 *   `audience` does) refuses a refresh token even if it forgets the `typ` check, and Refresh
 *   refuses an access token on `typ`, `aud` and `token_use`.
 *
 * Verification always names the algorithm (`algorithms: ['ES256']`), so a token with `alg: none`
 * or HS256 signed with the public key is refused (RFC 8725, JWT BCP, section 3.1).
 */
import { createLocalJWKSet, errors, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { status } from '@grpc/grpc-js';
import { SIGNING_ALG, type SigningKey } from './signing-keys.js';

/** Header `typ` of access tokens (RFC 9068 section 2.1). */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Header `typ` of refresh tokens. */
export const REFRESH_TOKEN_TYP = 'refresh+jwt';

/** Options of {@link createTokenIssuer}. */
export interface TokenIssuerOptions {
  /** `iss` of both kinds, and `aud` of refresh tokens. */
  issuer: string;
  /** `aud` of access tokens. */
  audience: string;
  /** Access token lifetime, s. */
  accessTokenTtlS: number;
  /** Refresh token lifetime, s. */
  refreshTokenTtlS: number;
  /** The clock (tests move it); default `() => new Date()`. */
  now?: () => Date;
}

/** What a token is issued for. */
export interface TokenSubject {
  /** User id, the `sub` claim. */
  id: string;
  /** The `roles` claim of access tokens. */
  roles: string[];
}

/** An issued pair. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** The access token's `exp`, as a Date (whole seconds). */
  accessTokenExpireTime: Date;
}

/** Which refresh token family a new refresh token belongs to, and its `jti`. */
export interface RefreshTokenIds {
  /** The `fam` claim (UUID): one family per Login, kept across rotations. */
  familyId: string;
  /** The `jti` (UUID). */
  jti: string;
}

/** A checked refresh token's claims. */
export interface VerifiedRefreshToken extends RefreshTokenIds {
  /** The user id (`sub`). */
  userId: string;
}

/** See the module comment. */
export interface TokenIssuer {
  /** Signs a pair; the refresh token carries `fam` = `refresh.familyId` and `jti` = `refresh.jti`. */
  issue(subject: TokenSubject, refresh: RefreshTokenIds): Promise<IssuedTokens>;
  /** The `exp` a refresh token issued now gets. */
  refreshExpireTime(): Date;
  /**
   * Checks a refresh token's signature, `alg`, `typ`, `iss`, `aud`, `exp`, `token_use` and
   * that it names a family (`fam`) and a `jti` (UUIDs). Whether it is still the family's
   * current token is the store's business (rotation).
   *
   * @returns its user id, family and jti.
   * @throws GrpcError UNAUTHENTICATED "refresh token expired" once `exp` has passed, or
   *   "invalid refresh token" for anything else wrong (malformed, bad signature, unknown kid,
   *   an access token, another issuer).
   */
  verifyRefreshToken(token: string): Promise<VerifiedRefreshToken>;
}

/**
 * Creates the issuer. Signs with `keys[0]` (the newest); verifies with any of `keys`, so a key
 * can be added before it is used and kept after it is replaced.
 */
export function createTokenIssuer(keys: SigningKey[], options: TokenIssuerOptions): TokenIssuer {
  const signing = keys[0];
  if (!signing) throw new Error('no signing key');
  const now = options.now ?? (() => new Date());
  const keySet = createLocalJWKSet({ keys: keys.map((k) => k.publicJwk) });

  return {
    refreshExpireTime: () => new Date((Math.floor(now().getTime() / 1000) + options.refreshTokenTtlS) * 1000),
    async issue(subject, refresh) {
      const iat = Math.floor(now().getTime() / 1000);
      const accessExp = iat + options.accessTokenTtlS;
      const accessToken = await new SignJWT({ roles: subject.roles, token_use: 'access' })
        .setProtectedHeader({ alg: SIGNING_ALG, kid: signing.kid, typ: ACCESS_TOKEN_TYP })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(subject.id)
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(accessExp)
        .sign(signing.privateKey);
      const refreshToken = await new SignJWT({ token_use: 'refresh', fam: refresh.familyId })
        .setProtectedHeader({ alg: SIGNING_ALG, kid: signing.kid, typ: REFRESH_TOKEN_TYP })
        .setIssuer(options.issuer)
        .setAudience(options.issuer)
        .setSubject(subject.id)
        .setJti(refresh.jti)
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.refreshTokenTtlS)
        .sign(signing.privateKey);
      return { accessToken, refreshToken, accessTokenExpireTime: new Date(accessExp * 1000) };
    },

    async verifyRefreshToken(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, keySet, {
          algorithms: [SIGNING_ALG],
          typ: REFRESH_TOKEN_TYP,
          issuer: options.issuer,
          audience: options.issuer,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          currentDate: now(),
        }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new GrpcError(status.UNAUTHENTICATED, 'refresh token expired');
        // Every other jose error is about the token; anything else is a bug (INTERNAL).
        if (error instanceof errors.JOSEError) throw new GrpcError(status.UNAUTHENTICATED, 'invalid refresh token');
        throw error;
      }
      const { sub, jti, fam } = payload;
      if (payload.token_use !== 'refresh' || typeof sub !== 'string' || !isUuid(jti) || !isUuid(fam)) throw new GrpcError(status.UNAUTHENTICATED, 'invalid refresh token');
      return { userId: sub, jti, familyId: fam };
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
