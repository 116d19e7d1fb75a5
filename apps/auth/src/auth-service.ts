/**
 * auth.v1.AuthService: the unary RPC pattern. Each handler is one `unary(async call => ...)`:
 * validate the request (INVALID_ARGUMENT naming the field), do the work, return the response
 * or throw a GrpcError with the status the proto promises. Built from its dependencies (store,
 * password hasher, clock, logger) so tests build it exactly as main.ts does.
 */
import { status } from '@grpc/grpc-js';
import { GrpcError, unary, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { currentCallContext, peerAddress, peerFailureBudget, type PeerFailureBudget } from '@grpc-patterns/interceptors';
import type { Logger } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { randomUUID } from 'node:crypto';
import type { AuthConfig } from './config.js';
import { createHashQueue, type HashQueue } from './hash-queue.js';
import { createLoginLimits, type LoginLimits } from './login-limits.js';
import { createPasswordHasher, type PasswordHasher } from './password-hasher.js';
import { loadOrCreateSigningKeys } from './signing-keys.js';
import type { AuthStore, UserRecord } from './store.js';
import { createTokenIssuer, type IssuedTokens, type TokenSubject } from './token-issuer.js';
import { checkDisplayName, checkNotEmpty, checkPassword, checkUserId, checkUsername, throwIfInvalid } from './validation.js';

/** Login's one failure message, for an unknown user and a wrong password alike. */
export const LOGIN_FAILED_MESSAGE = 'invalid username or password';
/** Every user's role; ADMIN_USERNAMES also get "admin". */
export const USER_ROLE = 'user';
export const ADMIN_ROLE = 'admin';
/** GetUser's answer to a non-admin asking about someone else (decided before any lookup). */
export const GET_USER_DENIED_MESSAGE = 'only admins may look up other users';
/** Refresh's answer when a rotated-away refresh token comes back: its whole family is revoked. */
export const REFRESH_REUSED_MESSAGE = 'refresh token already used: session revoked, log in again';

/** Dependencies of {@link createAuthService}. */
export interface AuthServiceDeps {
  config: Pick<AuthConfig, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL_S' | 'REFRESH_TOKEN_TTL_S' | 'ADMIN_USERNAMES'> &
    Partial<
      Pick<
        AuthConfig,
        | 'LOGIN_FAILS_PER_USER_IP'
        | 'LOGIN_BLOCK_S'
        | 'LOGIN_FAILS_PER_IP'
        | 'LOGIN_FAILS_PER_USER'
        | 'REGISTER_PER_IP'
        | 'SCRYPT_MAX_CONCURRENT'
        | 'SCRYPT_MAX_QUEUE'
        | 'SCRYPT_MAX_PER_PEER'
        | 'AUTH_FAILURES_PER_PEER'
        | 'AUTH_FAILURE_WINDOW_S'
        | 'REDIS_URL'
      >
    >;
  /** Owned by the service from now on: {@link AuthService.close} closes it. */
  store: AuthStore;
  /** Default: scrypt with OWASP's parameters. */
  hasher?: PasswordHasher;
  logger: Logger;
  /** Default: `() => new Date()`. */
  now?: () => Date;
  /** Default: from the config's LOGIN_* / REGISTER_PER_IP / REDIS_URL (login-limits.ts); closed by close(). */
  limits?: LoginLimits;
  /** Default: from SCRYPT_MAX_CONCURRENT / SCRYPT_MAX_QUEUE / SCRYPT_MAX_PER_PEER (hash-queue.ts). */
  hashQueue?: HashQueue;
  /** Invalid refresh tokens per peer address; default from AUTH_FAILURES_PER_PEER / AUTH_FAILURE_WINDOW_S. */
  refreshFailureBudget?: PeerFailureBudget;
}

/** A built service: hand `registration` to startServer and `close` to its afterStop. */
export interface AuthService {
  registration: ServiceRegistration;
  implementation: authV1.AuthServiceServer;
  /** The public keys, issuer and audience tokens are verified with (what GetPublicKeys returns). */
  verificationKeys: { keys: authV1.Jwk[]; issuer: string; audience: string };
  /** Closes the limits' Redis client, then the store. */
  close(): Promise<void>;
}

/**
 * Loads (on first start creates and stores) the signing key and builds the service.
 * Errors: each RPC's status codes are in README's table; INTERNAL (detail logged only) for anything unexpected.
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
  const limits =
    deps.limits ??
    createLoginLimits(
      {
        LOGIN_FAILS_PER_USER_IP: config.LOGIN_FAILS_PER_USER_IP ?? 10,
        LOGIN_BLOCK_S: config.LOGIN_BLOCK_S ?? 3_600,
        LOGIN_FAILS_PER_IP: config.LOGIN_FAILS_PER_IP ?? 100,
        LOGIN_FAILS_PER_USER: config.LOGIN_FAILS_PER_USER ?? 50,
        REGISTER_PER_IP: config.REGISTER_PER_IP ?? 50,
        REDIS_URL: config.REDIS_URL,
      },
      logger,
    );
  // Until Redis answers, the insurance limiter counts in memory: wait briefly so the first
  // calls are counted where the other replicas count them.
  if (!(await limits.ready(2_000))) logger.warn('login limits store not reachable yet: counting in memory meanwhile');
  const hashQueue =
    deps.hashQueue ?? createHashQueue({ maxConcurrent: config.SCRYPT_MAX_CONCURRENT ?? 1, maxQueued: config.SCRYPT_MAX_QUEUE ?? 32, maxPerKey: config.SCRYPT_MAX_PER_PEER ?? 8 });
  const refreshBudget = deps.refreshFailureBudget ?? peerFailureBudget({ failures: config.AUTH_FAILURES_PER_PEER, windowS: config.AUTH_FAILURE_WINDOW_S, keyPrefix: 'refresh-fail' });

  /** Signs a pair in a new refresh token family (Login) and stores the family. */
  const startFamily = async (user: UserRecord & TokenSubject) => {
    const refresh = { familyId: randomUUID(), jti: randomUUID() };
    await store.createRefreshFamily({ id: refresh.familyId, userId: user.id, currentJti: refresh.jti, expireTime: tokens.refreshExpireTime() });
    return tokens.issue(user, refresh);
  };
  const jwks = keys.map((k) => authV1.Jwk.fromPartial(k.publicJwk as Partial<authV1.Jwk>));

  const implementation: authV1.AuthServiceServer = {
    register: unary(async (call) => {
      const { request } = call;
      throwIfInvalid(checkUsername(request.username), checkPassword(request.password, 'new'), checkDisplayName(request.displayName));
      const address = peerAddress(call.getPeer());
      await limits.register(address);
      const taken = () => new GrpcError(status.ALREADY_EXISTS, `username "${request.username}" is already taken`);
      // Checked before hashing so a taken name costs no scrypt work; the UNIQUE constraint
      // still decides when two Register calls race for one name.
      if (await store.findUserByUsername(request.username)) throw taken();
      const user = await store.createUser({
        id: randomUUID(),
        username: request.username,
        displayName: request.displayName || request.username,
        passwordHash: await hashQueue.run(address, () => hasher.hash(request.password), () => call.cancelled),
        roles: admins.has(request.username) ? [USER_ROLE, ADMIN_ROLE] : [USER_ROLE],
      });
      if (!user) throw taken();
      logger.info({ userId: user.id, username: user.username, roles: user.roles }, 'user registered');
      return authV1.RegisterResponse.fromPartial({ user: toUserMessage(user) });
    }),

    login: unary(async (call) => {
      const { request } = call;
      throwIfInvalid(checkUsername(request.username), checkPassword(request.password, 'existing'));
      const address = peerAddress(call.getPeer());
      // Counted before any work: over a limit, RESOURCE_EXHAUSTED without a lookup or scrypt.
      const attempt = await limits.beginLogin(request.username, address);
      let user: UserRecord | undefined;
      let ok: boolean;
      try {
        user = await store.findUserByUsername(request.username);
        // verify() runs scrypt even when there is no such user, so both failures take as long.
        ok = await hashQueue.run(address, () => hasher.verify(request.password, user?.passwordHash), () => call.cancelled);
      } catch (error) {
        await attempt.notTried();
        throw error;
      }
      if (!user || !ok) {
        logger.info({ username: request.username, address, reason: user ? 'wrong password' : 'unknown user' }, 'login failed');
        throw new GrpcError(status.UNAUTHENTICATED, LOGIN_FAILED_MESSAGE);
      }
      await attempt.succeeded();
      if (hasher.needsRehash(user.passwordHash)) {
        // The one moment the plain password is at hand: move the hash to the current cost.
        const password = request.password;
        await store.updatePasswordHash(user.id, await hashQueue.run(address, () => hasher.hash(password)));
        logger.info({ userId: user.id }, 'password re-hashed with current scrypt parameters');
      }
      return authV1.LoginResponse.fromPartial({ tokens: toTokenPair(await startFamily(user)), user: toUserMessage(user) });
    }),

    refresh: unary(async (call) => {
      const { request } = call;
      throwIfInvalid(checkNotEmpty('refresh_token', request.refreshToken));
      // Refresh is public: a forged refresh token costs a signature check like a forged access
      // token does, so invalid ones spend the same per-address budget.
      const peer = call.getPeer();
      const refusal = await refreshBudget.blocked(peer);
      if (refusal) throw refusal;
      const verified = await tokens.verifyRefreshToken(request.refreshToken).catch(async (error: unknown) => {
        await refreshBudget.failed(peer);
        throw error;
      });
      // Look the user up again so the new access token carries current roles, and a user
      // removed since cannot refresh.
      const user = checkUserId('sub', verified.userId) ? undefined : await store.findUserById(verified.userId);
      if (!user) throw new GrpcError(status.UNAUTHENTICATED, 'invalid refresh token');
      // Rotation (RFC 9700 section 4.14.2): the token used is replaced by the one returned here;
      // an older token of the family coming back means it was stolen (or the client is broken),
      // so the whole family is revoked and every holder must log in again.
      const next = { familyId: verified.familyId, jti: randomUUID() };
      const outcome = await store.rotateRefreshToken(verified.familyId, verified.jti, next.jti, tokens.refreshExpireTime());
      if (outcome === 'reused') {
        logger.warn({ userId: user.id, family: verified.familyId, address: peerAddress(peer) }, 'refresh token reused: family revoked');
        throw new GrpcError(status.UNAUTHENTICATED, REFRESH_REUSED_MESSAGE);
      }
      if (outcome !== 'rotated') throw new GrpcError(status.UNAUTHENTICATED, outcome === 'revoked' ? REFRESH_REUSED_MESSAGE : 'invalid refresh token');
      return authV1.RefreshResponse.fromPartial({ tokens: toTokenPair(await tokens.issue(user, next)) });
    }),

    getUser: unary(async ({ request }) => {
      throwIfInvalid(checkUserId('user_id', request.userId));
      const userId = request.userId.toLowerCase();
      // Yourself, or anyone if you are an admin. Decided before the lookup, so the answer
      // is the same for an id that exists and one that does not (no enumeration).
      const caller = currentCallContext()?.user;
      if (!caller || (caller.id.toLowerCase() !== userId && !caller.roles.includes(ADMIN_ROLE))) throw new GrpcError(status.PERMISSION_DENIED, GET_USER_DENIED_MESSAGE);
      const user = await store.findUserById(userId);
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
    close: async () => {
      await limits.close();
      await store.close();
    },
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
