// Users and the signing key survive a restart: stop the service (server, then store), start a
// new one on the same DATA_DIR, and everything issued before still works.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { expectStatus, grpc } from '@grpc-patterns/testing';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { rmSync, statSync } from 'node:fs';
import { createPasswordHasher } from './password-hasher.js';
import { openPgliteStore } from './pglite-store.js';
import { defined, FAST_SCRYPT, startAuth, tempDataDir, type AuthFixture } from '../test/auth-fixture.js';

describe('auth restart on the same DATA_DIR', () => {
  const dataDir = tempDataDir();
  let first: AuthFixture | undefined;
  let second: AuthFixture | undefined;
  afterAll(async () => {
    await first?.close();
    await second?.close();
    closeAllChannels();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps users, the signing key and issued tokens valid, and re-hashes passwords when scrypt parameters change', async () => {
    first = await startAuth({ dataDir });
    const { user } = await first.register({ username: 'mallory', password: 'mallory-password', displayName: 'Mallory' });
    const { tokens } = await first.login({ username: 'mallory', password: 'mallory-password' });
    const keysBefore = await first.getPublicKeys();
    await first.close();
    first = undefined;
    // The directory holds the private key: owner only.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);

    // Stronger parameters than the ones the password was hashed with.
    const stronger = createPasswordHasher({ ...FAST_SCRYPT, logN: FAST_SCRYPT.logN + 1 });
    second = await startAuth({ dataDir, hasher: stronger });
    expect(await second.getPublicKeys()).toEqual(keysBefore);
    expect((await second.getUser({ userId: user.id }, tokens.accessToken)).user).toEqual(user);

    // The token issued before the restart verifies with the keys served after it.
    const jwks = createLocalJWKSet({ keys: (await second.getPublicKeys()).keys as JWK[] });
    const { payload } = await jwtVerify(tokens.accessToken, jwks, { algorithms: ['ES256'], issuer: 'grpc-patterns-auth', audience: 'grpc-patterns', typ: 'at+jwt' });
    expect(payload.sub).toBe(user.id);
    // And so does the refresh token.
    expect((await second.refresh({ refreshToken: tokens.refreshToken })).tokens.tokenType).toBe('Bearer');

    // Login still works with the old hash and moves it to the new parameters.
    expect((await second.login({ username: 'mallory', password: 'mallory-password' })).user).toEqual(user);
    expect(second.serviceLogs.filter((l) => l.msg === 'password re-hashed with current scrypt parameters').map((l) => l.userId)).toEqual([user.id]);
    const wrong = await expectStatus(second.login({ username: 'mallory', password: 'wrong-password' }));
    expect([wrong.code, wrong.details]).toEqual([grpc.status.UNAUTHENTICATED, 'invalid username or password']);
    const taken = await expectStatus(second.register({ username: 'mallory', password: 'another-password' }));
    expect(taken.code).toBe(grpc.status.ALREADY_EXISTS);
    await second.close();
    second = undefined;

    // What is on disk now: the hash carries the new parameters.
    const store = await openPgliteStore(dataDir);
    try {
      const stored = defined(await store.findUserByUsername('mallory'), 'user mallory');
      expect(stored.passwordHash).toMatch(/^\$scrypt\$ln=11,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
      expect(stronger.needsRehash(stored.passwordHash)).toBe(false);
      expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(keysBefore.keys.map((k) => k.kid));
    } finally {
      await store.close();
    }
    // Three PGlite opens, one of them initdb: seconds each on a busy 2-core machine.
  }, 120_000);
});
