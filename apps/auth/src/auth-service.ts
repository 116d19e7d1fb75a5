/**
 * auth.v1.AuthService: the unary RPC pattern. Each handler is one `unary(async call => ...)`:
 * validate the request (INVALID_ARGUMENT naming the field), do the work, return the response
 * or throw a GrpcError with the status the proto promises. Built from its dependencies (store,
 * password hasher, clock, logger) so tests build it exactly as main.ts does.
 */
import { status } from '@grpc/grpc-js';
import { GrpcError, unary, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { randomUUID } from 'node:crypto';
import type { AuthConfig } from './config.js';
import { createPasswordHasher, type PasswordHasher } from './password-hasher.js';
import { loadOrCreateSigningKeys } from './signing-keys.js';
import type { AuthStore, UserRecord } from './store.js';
import { createTokenIssuer, type IssuedTokens } from './token-issuer.js';
import { checkDisplayName, checkNotEmpty, checkPassword, checkUserId, checkUsername, throwIfInvalid } from './validation.js';

/** Login's one failure message, for an unknown user and a wrong password alike. */
export const LOGIN_FAILED_MESSAGE = 'invalid username or password';
/** Every user's role; ADMIN_USERNAMES also get "admin". */
export const USER_ROLE = 'user';
export const ADMIN_ROLE = 'admin';

/** Dependencies of {@link createAuthService}. */
export interface AuthServiceDeps {
  config: Pick<AuthConfig, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL_S' | 'REFRESH_TOKEN_TTL_S' | 'ADMIN_USERNAMES'>;
  /** Owned by the service from now on: {@link AuthService.close} closes it. */
  store: AuthStore;
  /** Default: scrypt with OWASP's parameters. */
  hasher?: PasswordHasher;
  logger: Logger;
  /** Default: `() => new Date()`. */
  now?: () => Date;
}

/** A built service: hand `registration` to startServer and `close` to its afterStop. */
export interface AuthService {
  registration: ServiceRegistration;
  implementation: authV1.AuthServiceServer;
  /** The public keys, issuer and audience tokens are verified with (what GetPublicKeys returns). */
  verificationKeys: { keys: authV1.Jwk[]; issuer: string; audience: string };
  /** Closes the store. */
  close(): Promise<void>;
}

/**
 * Loads (or on first start creates and stores) the signing key and builds the service.
 *
 * Status codes: INVALID_ARGUMENT (a field empty or malformed, named in the message),
 * ALREADY_EXISTS (Register: username taken), UNAUTHENTICATED (Login: "invalid username or
 * password"; Refresh: "invalid refresh token" / "refresh token expired"), NOT_FOUND (GetUser),
 * INTERNAL for anything unexpected (store down, corrupt row), detail logged only.
 */
export async function createAuthService(deps: AuthServiceDeps): Promise<AuthService> {
  const { config, store, logger } = deps;
  const hasher = deps.hasher ?? createPasswordHasher();
  const keys = await loadOrCreateSigningKeys(store);
  logger.info({ kids: keys.map((k) => k.kid), signingKid: keys[0]?.kid }, 'signing keys loaded');
  const tokens = createTokenIssuer(keys, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTokenTtlS: config.ACCESS_TOKEN_TTL_S,
    refreshTokenTtlS: config.REFRESH_TOKEN_TTL_S,
    now: deps.now,
  });
  const admins = new Set(config.ADMIN_USERNAMES);
  const jwks = keys.map((k) => authV1.Jwk.fromPartial(k.publicJwk as Partial<authV1.Jwk>));

  const implementation: authV1.AuthServiceServer = {
    register: unary(async ({ request }) => {
      throwIfInvalid(checkUsername(request.username), checkPassword(request.password, 'new'), checkDisplayName(request.displayName));
      const taken = () => new GrpcError(status.ALREADY_EXISTS, `username "${request.username}" is already taken`);
      // Checked before hashing so a taken name costs no scrypt work; the UNIQUE constraint
      // still decides when two Register calls race for one name.
      if (await store.findUserByUsername(request.username)) throw taken();
      const user = await store.createUser({
        id: randomUUID(),
        username: request.username,
        displayName: request.displayName || request.username,
        passwordHash: await hasher.hash(request.password),
        roles: admins.has(request.username) ? [USER_ROLE, ADMIN_ROLE] : [USER_ROLE],
      });
      if (!user) throw taken();
      logger.info({ userId: user.id, username: user.username, roles: user.roles }, 'user registered');
      return authV1.RegisterResponse.fromPartial({ user: toUserMessage(user) });
    }),

    login: unary(async ({ request }) => {
      throwIfInvalid(checkUsername(request.username), checkPassword(request.password, 'existing'));
      const user = await store.findUserByUsername(request.username);
      // verify() runs scrypt even when there is no such user, so both failures take as long.
      const ok = await hasher.verify(request.password, user?.passwordHash);
      if (!user || !ok) {
        logger.info({ username: request.username, reason: user ? 'wrong password' : 'unknown user' }, 'login failed');
        throw new GrpcError(status.UNAUTHENTICATED, LOGIN_FAILED_MESSAGE);
      }
      if (hasher.needsRehash(user.passwordHash)) {
        // The one moment the plain password is at hand: move the hash to the current cost.
        await store.updatePasswordHash(user.id, await hasher.hash(request.password));
        logger.info({ userId: user.id }, 'password re-hashed with current scrypt parameters');
      }
      return authV1.LoginResponse.fromPartial({ tokens: toTokenPair(await tokens.issue(user)), user: toUserMessage(user) });
    }),

    refresh: unary(async ({ request }) => {
      throwIfInvalid(checkNotEmpty('refresh_token', request.refreshToken));
      const userId = await tokens.verifyRefreshToken(request.refreshToken);
      // Look the user up again so the new access token carries current roles, and a user
      // removed since cannot refresh.
      const user = checkUserId('sub', userId) ? undefined : await store.findUserById(userId);
      if (!user) throw new GrpcError(status.UNAUTHENTICATED, 'invalid refresh token');
      return authV1.RefreshResponse.fromPartial({ tokens: toTokenPair(await tokens.issue(user)) });
    }),

    getUser: unary(async ({ request }) => {
      throwIfInvalid(checkUserId('user_id', request.userId));
      const user = await store.findUserById(request.userId.toLowerCase());
      if (!user) throw new GrpcError(status.NOT_FOUND, `user "${request.userId}" not found`);
      return authV1.GetUserResponse.fromPartial({ user: toUserMessage(user) });
    }),

    getPublicKeys: unary(async () =>
      authV1.GetPublicKeysResponse.fromPartial({ keys: jwks, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
    ),
  };

  return {
    registration: { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation },
    implementation,
    verificationKeys: { keys: jwks, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE },
    close: () => store.close(),
  };
}

/** The public view of a user: never the password hash. */
function toUserMessage(user: UserRecord): authV1.User {
  return authV1.User.fromPartial({
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    roles: user.roles,
    createTime: user.createTime,
  });
}

function toTokenPair(issued: IssuedTokens): authV1.TokenPair {
  return authV1.TokenPair.fromPartial({ ...issued, tokenType: 'Bearer' });
}
