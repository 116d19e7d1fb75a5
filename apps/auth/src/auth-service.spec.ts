// The five RPCs through the generated client against a real server with a real PGlite store:
// happy paths, then every status code each RPC can return, with exact messages.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createPasswordHasher, type PasswordHasher } from './password-hasher.js';
import { defined, FAST_SCRYPT, startAuth, tempDataDir, type AuthFixture } from '../test/auth-fixture.js';

const ISSUER = 'grpc-patterns-auth';
const AUDIENCE = 'grpc-patterns';

describe('auth.v1.AuthService', () => {
  const dataDir = tempDataDir();
  let auth: AuthFixture;
  // The clock the service reads; tests move it forward to expire tokens.
  let clockOffsetMs = 0;
  // Which password hashes Login asked the hasher to check (undefined: unknown user).
  const verified: Array<string | undefined> = [];

  beforeAll(async () => {
    const fast = createPasswordHasher(FAST_SCRYPT);
    const hasher: PasswordHasher = {
      params: fast.params,
      hash: (password) => fast.hash(password),
      needsRehash: (stored) => fast.needsRehash(stored),
      verify: (password, stored) => {
        verified.push(stored);
        return fast.verify(password, stored);
      },
    };
    auth = await startAuth({ dataDir, hasher, env: { ADMIN_USERNAMES: 'root, ops' }, now: () => new Date(Date.now() + clockOffsetMs) });
    // PGlite's initdb on a fresh DATA_DIR takes seconds on a busy machine.
  }, 60_000);
  afterAll(async () => {
    await auth.close();
    closeAllChannels();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => {
    clockOffsetMs = 0;
    verified.length = 0;
  });

  async function accessTokenClaims(token: string) {
    const { keys } = await auth.getPublicKeys();
    return jwtVerify(token, createLocalJWKSet({ keys: keys as JWK[] }), { algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' });
  }

  describe('happy paths', () => {
    it('Register creates a user with role "user" and display_name defaulting to the username', async () => {
      const before = Date.now();
      const { user } = await auth.register({ username: 'alice', password: 'correct horse' });
      expect(user).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username: 'alice', displayName: 'alice', roles: ['user'], createTime: expect.any(Date) });
      expect(defined(user.createTime, 'create_time').getTime()).toBeGreaterThanOrEqual(before - 1_000);
      const named = await auth.register({ username: 'bob.b-2_x', password: 'password1', displayName: 'Bob 🚲' });
      expect(named.user).toMatchObject({ username: 'bob.b-2_x', displayName: 'Bob 🚲', roles: ['user'] });
    });

    it('Register gives ADMIN_USERNAMES the "admin" role too, and the access token carries it', async () => {
      const { user } = await auth.register({ username: 'root', password: 'rootroot' });
      expect(user.roles).toEqual(['user', 'admin']);
      const { tokens } = await auth.login({ username: 'root', password: 'rootroot' });
      expect((await accessTokenClaims(tokens.accessToken)).payload.roles).toEqual(['user', 'admin']);
    });

    it('Login returns a Bearer token pair whose access token verifies against GetPublicKeys', async () => {
      const { user: registered } = await auth.register({ username: 'carol', password: 'carol-password' });
      const { tokens, user } = await auth.login({ username: 'carol', password: 'carol-password' });
      expect(user).toEqual(registered);
      expect(tokens.tokenType).toBe('Bearer');

      const { payload, protectedHeader } = await accessTokenClaims(tokens.accessToken);
      const { keys } = await auth.getPublicKeys();
      expect(protectedHeader).toEqual({ alg: 'ES256', kid: keys[0].kid, typ: 'at+jwt' });
      expect(payload).toEqual({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: registered.id,
        iat: expect.any(Number),
        exp: defined(payload.iat, 'iat') + 900,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        roles: ['user'],
        token_use: 'access',
      });
      expect(tokens.accessTokenExpireTime).toEqual(new Date(defined(payload.exp, 'exp') * 1000));
    });

    it('Login gives a new jti every time', async () => {
      await auth.register({ username: 'dave', password: 'dave-password' });
      const a = await auth.login({ username: 'dave', password: 'dave-password' });
      const b = await auth.login({ username: 'dave', password: 'dave-password' });
      const [ja, jb] = [await accessTokenClaims(a.tokens.accessToken), await accessTokenClaims(b.tokens.accessToken)];
      expect(ja.payload.jti).not.toBe(jb.payload.jti);
    });

    it('Refresh trades a refresh token for a new pair for the same user', async () => {
      const { user } = await auth.register({ username: 'erin', password: 'erin-password' });
      const { tokens } = await auth.login({ username: 'erin', password: 'erin-password' });
      expect(decodeProtectedHeader(tokens.refreshToken).typ).toBe('refresh+jwt');
      const refreshed = await auth.refresh({ refreshToken: tokens.refreshToken });
      expect(refreshed.tokens.tokenType).toBe('Bearer');
      const { payload } = await accessTokenClaims(refreshed.tokens.accessToken);
      expect([payload.sub, payload.roles]).toEqual([user.id, ['user']]);
      // The new refresh token works too.
      const again = await auth.refresh({ refreshToken: refreshed.tokens.refreshToken });
      expect((await accessTokenClaims(again.tokens.accessToken)).payload.sub).toBe(user.id);
    });

    it('GetUser finds the caller by id, in any letter case, without the password hash', async () => {
      const { user } = await auth.register({ username: 'frank', password: 'frank-password', displayName: 'Frank' });
      const { tokens } = await auth.login({ username: 'frank', password: 'frank-password' });
      expect((await auth.getUser({ userId: user.id }, tokens.accessToken)).user).toEqual(user);
      expect((await auth.getUser({ userId: user.id.toUpperCase() }, tokens.accessToken)).user).toEqual(user);
    });

    it('GetUser lets an admin look up any user', async () => {
      const { user } = await auth.register({ username: 'grace', password: 'grace-password' });
      const { tokens } = await auth.login({ username: 'root', password: 'rootroot' });
      expect((await auth.getUser({ userId: user.id }, tokens.accessToken)).user).toEqual(user);
    });

    it('GetPublicKeys returns one ES256 key whose kid is its RFC 7638 thumbprint, plus issuer and audience', async () => {
      const response = await auth.getPublicKeys();
      expect(response.issuer).toBe(ISSUER);
      expect(response.audience).toBe(AUDIENCE);
      expect(response.keys).toHaveLength(1);
      const [key] = response.keys;
      expect(key).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' });
      expect(key.kid).toBe(await calculateJwkThumbprint({ kty: key.kty, crv: key.crv, x: key.x, y: key.y }));
    });
  });

  describe('Register errors', () => {
    it.each([
      ['everything empty', { username: '', password: '' }, 'username: must not be empty; password: must not be empty'],
      ['a 2 character username', { username: 'al', password: 'password1' }, 'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"'],
      ['a 33 character username', { username: 'a'.repeat(33), password: 'password1' }, 'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"'],
      ['an upper-case username', { username: 'Alice', password: 'password1' }, 'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"'],
      ['a username with a space', { username: 'al ice', password: 'password1' }, 'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"'],
      ['a 7 character password', { username: 'grace', password: 'short12' }, 'password: must be at least 8 characters'],
      // 7 emoji are 14 UTF-16 units but 7 characters.
      ['a 7 emoji password', { username: 'grace', password: '🔑'.repeat(7) }, 'password: must be at least 8 characters'],
      ['a 1025 character password', { username: 'grace', password: 'p'.repeat(1025) }, 'password: must be at most 1024 characters'],
      ['a 65 character display_name', { username: 'grace', password: 'password1', displayName: 'd'.repeat(65) }, 'display_name: must be at most 64 characters'],
      ['a display_name with a newline', { username: 'grace', password: 'password1', displayName: 'two\nlines' }, 'display_name: must not contain control characters'],
      [
        'three bad fields',
        { username: 'G', password: 'x', displayName: 'd'.repeat(65) },
        'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"; password: must be at least 8 characters; display_name: must be at most 64 characters',
      ],
    ])('INVALID_ARGUMENT for %s', async (_case, request, message) => {
      const error = await expectStatus(auth.register(request));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, message]);
    });

    it('accepts the boundaries: 3 and 32 character usernames, 8 and 1024 character passwords, 64 character display names', async () => {
      await auth.register({ username: 'abc', password: '12345678', displayName: 'd'.repeat(64) });
      await auth.register({ username: 'z'.repeat(32), password: 'p'.repeat(1024) });
      expect((await auth.login({ username: 'z'.repeat(32), password: 'p'.repeat(1024) })).user.username).toBe('z'.repeat(32));
    });

    it('ALREADY_EXISTS for a taken username', async () => {
      await auth.register({ username: 'henry', password: 'henry-password' });
      const error = await expectStatus(auth.register({ username: 'henry', password: 'another-password' }));
      expect([error.code, error.details]).toEqual([grpc.status.ALREADY_EXISTS, 'username "henry" is already taken']);
      // The first password still works: the second call changed nothing.
      expect((await auth.login({ username: 'henry', password: 'henry-password' })).user.username).toBe('henry');
    });

    it('two concurrent Register calls for one name: exactly one wins', async () => {
      const results = await Promise.allSettled([auth.register({ username: 'ivy', password: 'ivy-password-1' }), auth.register({ username: 'ivy', password: 'ivy-password-2' })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected.map((r) => [r.reason.code, r.reason.details])).toEqual([[grpc.status.ALREADY_EXISTS, 'username "ivy" is already taken']]);
    });
  });

  describe('Login errors', () => {
    beforeAll(async () => {
      await auth.register({ username: 'judy', password: 'judy-password' });
    });

    it('UNAUTHENTICATED with the same message for a wrong password and an unknown user, and scrypt runs for both', async () => {
      const wrong = await expectStatus(auth.login({ username: 'judy', password: 'not-her-password' }));
      const unknown = await expectStatus(auth.login({ username: 'nobody', password: 'judy-password' }));
      expect([wrong.code, wrong.details]).toEqual([grpc.status.UNAUTHENTICATED, 'invalid username or password']);
      expect([unknown.code, unknown.details]).toEqual([wrong.code, wrong.details]);
      expect(verified).toEqual([expect.stringMatching(/^\$scrypt\$ln=10,r=8,p=1\$/), undefined]);
      // The log tells operators which it was; the client cannot tell.
      const failures = auth.serviceLogs.filter((l) => l.msg === 'login failed').slice(-2);
      expect(failures.map((l) => [l.username, l.reason])).toEqual([
        ['judy', 'wrong password'],
        ['nobody', 'unknown user'],
      ]);
      expect(JSON.stringify(auth.serviceLogs)).not.toContain('not-her-password');
    });

    it.each([
      ['everything empty', { username: '', password: '' }, 'username: must not be empty; password: must not be empty'],
      ['an empty password', { username: 'judy', password: '' }, 'password: must not be empty'],
      ['an upper-case username', { username: 'JUDY', password: 'judy-password' }, 'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"'],
      ['a 1025 character password', { username: 'judy', password: 'p'.repeat(1025) }, 'password: must be at most 1024 characters'],
    ])('INVALID_ARGUMENT for %s, before any scrypt work', async (_case, request, message) => {
      const error = await expectStatus(auth.login(request));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, message]);
      expect(verified).toEqual([]);
    });
  });

  describe('Refresh errors', () => {
    let tokens: { accessToken: string; refreshToken: string };
    beforeAll(async () => {
      await auth.register({ username: 'kate', password: 'kate-password' });
      tokens = (await auth.login({ username: 'kate', password: 'kate-password' })).tokens;
    });

    async function refreshFails(refreshToken: string) {
      const error = await expectStatus(auth.refresh({ refreshToken }));
      return [error.code, error.details];
    }

    it('INVALID_ARGUMENT for an empty refresh_token', async () => {
      expect(await refreshFails('')).toEqual([grpc.status.INVALID_ARGUMENT, 'refresh_token: must not be empty']);
    });

    it('UNAUTHENTICATED for an access token', async () => {
      expect(await refreshFails(tokens.accessToken)).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);
    });

    it('and a refresh token does not pass as an access token (aud and typ differ)', async () => {
      const { keys } = await auth.getPublicKeys();
      const jwks = createLocalJWKSet({ keys: keys as JWK[] });
      await expect(jwtVerify(tokens.refreshToken, jwks, { algorithms: ['ES256'], issuer: ISSUER, audience: AUDIENCE })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
      await expect(jwtVerify(tokens.refreshToken, jwks, { algorithms: ['ES256'], issuer: ISSUER, typ: 'at+jwt' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'typ' });
    });

    it('UNAUTHENTICATED for garbage, a tampered token, alg "none" and a token signed by another key under our kid', async () => {
      expect(await refreshFails('not-a-jwt')).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);
      const [header, payload, signature] = tokens.refreshToken.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const otherSub = Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString('base64url');
      expect(await refreshFails(`${header}.${otherSub}.${signature}`)).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);

      const unsigned = new UnsecuredJWT({ ...claims }).encode();
      expect(await refreshFails(unsigned)).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);

      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: decodeProtectedHeader(tokens.refreshToken).kid, typ: 'refresh+jwt' }).sign(privateKey);
      expect(await refreshFails(forged)).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);
    });

    it('UNAUTHENTICATED for a token of another issuer signed with a key we do not know', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
      const foreign = await new SignJWT({ token_use: 'refresh' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'refresh+jwt' })
        .setIssuer('someone-else')
        .setAudience('someone-else')
        .setSubject(randomUUID())
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
      expect(await refreshFails(foreign)).toEqual([grpc.status.UNAUTHENTICATED, 'invalid refresh token']);
    });

    it('UNAUTHENTICATED "refresh token expired" once REFRESH_TOKEN_TTL_S has passed', async () => {
      clockOffsetMs = (604_800 + 1) * 1000;
      expect(await refreshFails(tokens.refreshToken)).toEqual([grpc.status.UNAUTHENTICATED, 'refresh token expired']);
      clockOffsetMs = (604_800 - 60) * 1000;
      expect((await auth.refresh({ refreshToken: tokens.refreshToken })).tokens.tokenType).toBe('Bearer');
    });
  });

  describe('GetUser errors', () => {
    let caller: { accessToken: string };
    let admin: { accessToken: string };
    beforeAll(async () => {
      await auth.register({ username: 'ivan', password: 'ivan-password' });
      caller = (await auth.login({ username: 'ivan', password: 'ivan-password' })).tokens;
      await auth.register({ username: 'ops', password: 'ops-password' });
      admin = (await auth.login({ username: 'ops', password: 'ops-password' })).tokens;
    });

    it.each([
      ['an empty user_id', '', 'user_id: must not be empty'],
      ['a word', 'nope', 'user_id: must be a UUID'],
      ['a UUID with a character more', `${randomUUID()}x`, 'user_id: must be a UUID'],
    ])('INVALID_ARGUMENT for %s', async (_case, userId, message) => {
      const error = await expectStatus(auth.getUser({ userId }, caller.accessToken));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, message]);
    });

    it('NOT_FOUND for an id no user has (asked by an admin)', async () => {
      const id = randomUUID();
      const error = await expectStatus(auth.getUser({ userId: id }, admin.accessToken));
      expect([error.code, error.details]).toEqual([grpc.status.NOT_FOUND, `user "${id}" not found`]);
    });

    it('PERMISSION_DENIED for a non-admin asking about another user, the same for an id nobody has (no enumeration)', async () => {
      const other = await auth.register({ username: 'heidi', password: 'heidi-password' });
      const existing = await expectStatus(auth.getUser({ userId: other.user.id }, caller.accessToken));
      const missing = await expectStatus(auth.getUser({ userId: randomUUID() }, caller.accessToken));
      expect([existing.code, existing.details]).toEqual([grpc.status.PERMISSION_DENIED, 'only admins may look up other users']);
      expect([missing.code, missing.details]).toEqual([existing.code, existing.details]);
    });

    it('UNAUTHENTICATED without a token', async () => {
      const error = await expectStatus(auth.getUser({ userId: randomUUID() }));
      expect([error.code, error.details]).toEqual([grpc.status.UNAUTHENTICATED, 'missing bearer token']);
    });
  });

  describe('refresh token rotation and reuse detection', () => {
    let tokens: { accessToken: string; refreshToken: string };
    beforeAll(async () => {
      await auth.register({ username: 'oscar', password: 'oscar-password' });
    });
    beforeEach(async () => {
      tokens = (await auth.login({ username: 'oscar', password: 'oscar-password' })).tokens;
    });

    it('Refresh returns a new refresh token; the one used is then refused, and that reuse revokes the whole family', async () => {
      const first = await auth.refresh({ refreshToken: tokens.refreshToken });
      expect(first.tokens.refreshToken).not.toBe(tokens.refreshToken);
      const second = await auth.refresh({ refreshToken: first.tokens.refreshToken });
      // The rotated-away token comes back (a thief, or a client that kept it).
      const reuse = await expectStatus(auth.refresh({ refreshToken: tokens.refreshToken }));
      expect([reuse.code, reuse.details]).toEqual([grpc.status.UNAUTHENTICATED, 'refresh token already used: session revoked, log in again']);
      // The family is revoked: the newest token of it fails too, and so does every later try.
      const newest = await expectStatus(auth.refresh({ refreshToken: second.tokens.refreshToken }));
      expect([newest.code, newest.details]).toEqual([grpc.status.UNAUTHENTICATED, 'refresh token already used: session revoked, log in again']);
      expect((await expectStatus(auth.refresh({ refreshToken: first.tokens.refreshToken }))).code).toBe(grpc.status.UNAUTHENTICATED);
      expect(auth.serviceLogs.filter((l) => l.msg === 'refresh token reused: family revoked')).toHaveLength(1);
    });

    it('another Login is another family: revoking one leaves the other working', async () => {
      const other = (await auth.login({ username: 'oscar', password: 'oscar-password' })).tokens;
      await auth.refresh({ refreshToken: tokens.refreshToken });
      await expectStatus(auth.refresh({ refreshToken: tokens.refreshToken }));
      expect((await auth.refresh({ refreshToken: other.refreshToken })).tokens.tokenType).toBe('Bearer');
    });

    it('two concurrent refreshes with one token: exactly one gets a new pair', async () => {
      const results = await Promise.allSettled([auth.refresh({ refreshToken: tokens.refreshToken }), auth.refresh({ refreshToken: tokens.refreshToken })]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    });
  });
});
