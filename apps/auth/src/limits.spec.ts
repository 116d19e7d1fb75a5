// Brute-force limits (login-limits.ts) through the real service, and the scrypt queue
// (hash-queue.ts) on its own: who is refused, with what status and RetryInfo, and who is not.
import { closeAllChannels, GrpcError } from '@grpc-patterns/grpc-kit';
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { createLogger } from '@grpc-patterns/observability';
import { describeRequiring, expectStatus, grpc } from '@grpc-patterns/testing';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createHashQueue, HASH_QUEUE_FULL_MESSAGE } from './hash-queue.js';
import { createLoginLimits, LOGIN_LIMITED_MESSAGE, REGISTER_LIMITED_MESSAGE } from './login-limits.js';
import { startAuth, tempDataDir, type AuthFixture } from '../test/auth-fixture.js';

describe('Login and Register limits (every call here comes from 127.0.0.1)', () => {
  const dataDir = tempDataDir();
  let auth: AuthFixture;
  beforeAll(async () => {
    auth = await startAuth({ dataDir, env: { LOGIN_FAILS_PER_USER_IP: '3', LOGIN_BLOCK_S: '600', LOGIN_FAILS_PER_IP: '8', LOGIN_FAILS_PER_USER: '50', REGISTER_PER_IP: '6' } });
    for (const name of ['una', 'vic', 'wes']) await auth.register({ username: name, password: `${name}-password` });
  }, 60_000);
  afterAll(async () => {
    await auth.close();
    closeAllChannels();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const code = (e: grpc.ServiceError) => grpc.status[e.code];

  it('a success resets the consecutive count; after LOGIN_FAILS_PER_USER_IP failures even the right password gets RESOURCE_EXHAUSTED with RetryInfo', async () => {
    for (let i = 0; i < 2; i++) await expectStatus(auth.login({ username: 'una', password: 'wrong-password' }));
    await auth.login({ username: 'una', password: 'una-password' });
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push(code(await expectStatus(auth.login({ username: 'una', password: 'wrong-password' }))));
    expect(failures).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED']);
    const blocked = await expectStatus(auth.login({ username: 'una', password: 'una-password' }));
    expect([code(blocked), blocked.details]).toEqual(['RESOURCE_EXHAUSTED', LOGIN_LIMITED_MESSAGE]);
    const retry = decodeStatusDetails(blocked)?.retryDelayMs ?? 0;
    expect(retry).toBeGreaterThan(590_000);
    expect(retry).toBeLessThanOrEqual(600_000);
    expect(blocked.metadata.get('grpc-retry-pushback-ms')).toEqual([String(retry)]);
    // Another username from the same address is not blocked by una's count.
    expect((await auth.login({ username: 'vic', password: 'vic-password' })).user.username).toBe('vic');
  });

  it('failures over many usernames from one address hit LOGIN_FAILS_PER_IP (successes give their point back)', async () => {
    // una's 5 failures above count here too (a blocked attempt does not); 3 more reach 8.
    await expectStatus(auth.login({ username: 'nobody1', password: 'guess-one' }));
    await expectStatus(auth.login({ username: 'nobody2', password: 'guess-two' }));
    await auth.login({ username: 'wes', password: 'wes-password' });
    await expectStatus(auth.login({ username: 'nobody3', password: 'guess-three' }));
    const blocked = await expectStatus(auth.login({ username: 'wes', password: 'wes-password' }));
    expect([code(blocked), blocked.details]).toEqual(['RESOURCE_EXHAUSTED', LOGIN_LIMITED_MESSAGE]);
    expect(decodeStatusDetails(blocked)?.retryDelayMs).toBeGreaterThan(86_000_000);
  });

  it('Register: REGISTER_PER_IP per hour, then RESOURCE_EXHAUSTED with RetryInfo before any hashing', async () => {
    // 3 registered in beforeAll; 3 more, then the 7th is refused.
    for (const name of ['xia', 'yan', 'zed']) await auth.register({ username: name, password: `${name}-password` });
    const refused = await expectStatus(auth.register({ username: 'zoe', password: 'zoe-password' }));
    expect([code(refused), refused.details]).toEqual(['RESOURCE_EXHAUSTED', REGISTER_LIMITED_MESSAGE]);
    expect(decodeStatusDetails(refused)?.retryDelayMs).toBeGreaterThan(3_500_000);
  });
});

describe('hash queue', () => {
  /** A job that ends when `release` is called, and says when it started. */
  function gate(log: string[], name: string) {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    return { work: () => (log.push(name), done.then(() => name)), release: () => release() };
  }

  it('runs maxConcurrent at once, serves a newly arriving key before a flooding one, and refuses over maxPerKey and maxQueued', async () => {
    const queue = createHashQueue({ maxConcurrent: 1, maxQueued: 4, maxPerKey: 3 });
    const started: string[] = [];
    const a = [gate(started, 'a1'), gate(started, 'a2'), gate(started, 'a3')];
    const results = a.map((g) => queue.run('attacker', g.work));
    expect(queue.stats()).toEqual({ running: 1, queued: 2 });
    // The attacker's 4th is over its share (3 = queued + running).
    const over = await queue.run('attacker', async () => 'never').catch((e: GrpcError) => e);
    expect(over).toBeInstanceOf(GrpcError);
    expect([(over as GrpcError).code, (over as GrpcError).message]).toEqual([grpc.status.RESOURCE_EXHAUSTED, HASH_QUEUE_FULL_MESSAGE]);
    expect((over as GrpcError).details).toEqual([{ type: 'RetryInfo', retryDelayMs: expect.any(Number) }]);
    const b = gate(started, 'b1');
    const bResult = queue.run('user', b.work);
    const c = gate(started, 'c1');
    void queue.run('other', c.work);
    // Queue full (4 waiting): anyone is refused now.
    await expect(queue.run('late', async () => 'x')).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    a[0]?.release();
    await results[0];
    await new Promise((resolve) => setImmediate(resolve));
    // Next: the newest idle key that arrived ("other"), then "user", before the attacker's a2.
    expect(started).toEqual(['a1', 'c1']);
    c.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a1', 'c1', 'b1']);
    b.release();
    expect(await bResult).toBe('b1');
    a[1]?.release();
    a[2]?.release();
    expect(await Promise.all(results)).toEqual(['a1', 'a2', 'a3']);
    expect(queue.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('drops a job whose call was cancelled while it waited, before its work starts', async () => {
    const queue = createHashQueue({ maxConcurrent: 1, maxQueued: 4, maxPerKey: 4 });
    const log: string[] = [];
    const first = gate(log, 'first');
    const running = queue.run('k', first.work);
    let cancelled = false;
    const waiting = queue.run('k', async () => (log.push('second'), 'second'), () => cancelled);
    cancelled = true;
    first.release();
    await running;
    await expect(waiting).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect(log).toEqual(['first']);
  });
});

const REDIS_URL = process.env['REDIS_URL'];
describeRequiring('Login limits in Redis (REDIS_URL), shared by two instances', REDIS_URL ? undefined : 'REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379; .ci/run sets it)', () => {
  const config = { LOGIN_FAILS_PER_USER_IP: 2, LOGIN_BLOCK_S: 60, LOGIN_FAILS_PER_IP: 100, LOGIN_FAILS_PER_USER: 50, REGISTER_PER_IP: 50, REDIS_URL };
  const logger = createLogger({ service: 'auth-test', level: 'silent' });

  it('failures counted by one replica block the username+address on the other', async () => {
    const a = createLoginLimits(config, logger);
    const b = createLoginLimits(config, logger);
    try {
      expect([a.store, b.store]).toEqual(['redis', 'redis']);
      expect([await a.ready(), await b.ready()]).toEqual([true, true]);
      const username = `u${randomUUID().slice(0, 8)}`;
      await a.beginLogin(username, '198.51.100.1');
      await b.beginLogin(username, '198.51.100.1');
      const refused = await b.beginLogin(username, '198.51.100.1').catch((e: GrpcError) => e);
      expect(refused).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, message: LOGIN_LIMITED_MESSAGE });
      await expect(a.beginLogin(username, '198.51.100.1')).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      // Another address is not blocked.
      await (await a.beginLogin(username, '198.51.100.2')).succeeded();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
