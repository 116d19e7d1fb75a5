// Rate limits from configuration: in memory by default; in real Redis shared by two in-process
// replicas (exact counts); and Redis unreachable, failing open or closed (exact codes, one log
// line per outage). The Redis suites run when REDIS_URL is set (.ci/run sets it), are skipped
// with the reason otherwise, and fail under CI=true when it is missing or Redis is unreachable.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { describeRequiring, freePort, grpc } from '@grpc-patterns/testing';
import { randomBytes } from 'node:crypto';
import { createServer, Socket, type Server } from 'node:net';
import { authV1 } from '@grpc-patterns/proto';
import { captureLogger, SHAPES, until, startShapeServer, type ShapeServer } from '../test/four-shapes.js';
import { RATE_LIMITED_MESSAGE, RATE_LIMITER_UNAVAILABLE_MESSAGE, rateLimitInterceptor } from './rate-limit.js';
import { rateLimiterFromConfig, type ConfiguredLimiter, type TokenBucketShape } from './rate-limit-store.js';

const REDIS_URL = process.env['REDIS_URL'] || undefined;
const OPEN_LINE = 'rate limiter store unavailable: calls let through (fail open)';
const CLOSED_LINE = 'rate limiter store unavailable: calls rejected with UNAVAILABLE (fail closed)';
const RECOVERED_LINE = 'rate limiter store available again';

/** `describe` when REDIS_URL is set or CI=true (a missing URL then fails in beforeAll), else skipped with the reason. */
function describeWithRedis(name: string, body: () => void): void {
  describeRequiring(name, REDIS_URL ? undefined : 'REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379; .ci/run sets it)', body);
}

/** Keys of this test run only, so runs and parallel suites never share a bucket. */
const runPrefix = () => `grpc-rl-test-${randomBytes(6).toString('hex')}`;

const codeName = (code: grpc.status) => grpc.status[code] ?? String(code);
const count = (values: string[], value: string) => values.filter((v) => v === value).length;

describe('rateLimiterFromConfig without REDIS_URL', () => {
  it('is the in-memory token bucket: 100/s plus a burst of 200, whatever RATE_LIMIT_FAIL says', async () => {
    const log = captureLogger();
    const setup = rateLimiterFromConfig({ RATE_LIMIT_FAIL: 'closed' }, log.logger);
    expect([setup.store, setup.failMode, setup.redis, await setup.ready()]).toEqual(['memory', 'open', undefined, true]);
    let allowed = 0;
    for (let i = 0; i < 301; i++) allowed += (await setup.limit({ principal: 'user:u', path: '/m' })).kind === 'allow' ? 1 : 0;
    expect(allowed).toBe(300);
    await setup.close();
  });
});

describe('RATE_LIMIT_RPS and RATE_LIMIT_BURST', () => {
  it('shape the token bucket; unset they keep 100/s and 200', () => {
    const { logger } = captureLogger();
    expect(rateLimiterFromConfig({}, logger).shape).toEqual({ points: 100, duration: 1, burstPoints: 200, burstDuration: 10 });
    expect(rateLimiterFromConfig({ RATE_LIMIT_RPS: 5, RATE_LIMIT_BURST: 0 }, logger).shape).toEqual({ points: 5, duration: 1, burstPoints: 0, burstDuration: 10 });
  });
});

describe('rateLimiterFromConfig with Redis unreachable', () => {
  let server: ShapeServer | undefined;
  let setup: ConfiguredLimiter | undefined;
  const log = captureLogger();
  afterEach(async () => {
    await server?.close();
    await setup?.close();
    server = undefined;
    setup = undefined;
    log.lines.length = 0;
  });
  afterAll(() => closeAllChannels());

  /** A setup on a loopback port nobody listens on (connection refused). */
  const unreachable = async (failMode: 'open' | 'closed') => {
    setup = rateLimiterFromConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_FAIL: failMode }, log.logger, { keyPrefix: runPrefix() });
    expect(await setup.ready(5_000)).toBe(false);
    server = await startShapeServer([rateLimitInterceptor({ limiter: setup })]);
    return server;
  };
  const errorLines = () => log.lines.filter((l) => l.level === 'error').map((l) => l.msg);

  it('fail open: every call goes through, one error line for the outage', async () => {
    const s = await unreachable('open');
    const codes: string[] = [];
    for (const shape of SHAPES) codes.push(codeName((await s.call(shape)).code));
    codes.push(codeName((await s.call('unary')).code));
    expect(codes).toEqual(['OK', 'OK', 'OK', 'OK', 'OK']);
    expect(s.observed.contexts).toHaveLength(5);
    expect(errorLines()).toEqual([OPEN_LINE]);
    expect(setup?.storeDown()).toBe(true);
  });

  it('fail closed: every shape ends UNAVAILABLE "rate limiter unavailable" before the handler, one error line', async () => {
    const s = await unreachable('closed');
    const results: Array<[string, string]> = [];
    for (const shape of SHAPES) {
      const r = await s.call(shape);
      results.push([codeName(r.code), r.details]);
    }
    const r = await s.call('unary');
    results.push([codeName(r.code), r.details]);
    expect(results).toEqual(Array.from({ length: 5 }, () => ['UNAVAILABLE', RATE_LIMITER_UNAVAILABLE_MESSAGE]));
    expect(s.observed.contexts).toHaveLength(0);
    expect(errorLines()).toEqual([CLOSED_LINE]);
    const line = log.lines.find((l) => l.msg === CLOSED_LINE);
    expect(line).toMatchObject({ failMode: 'closed', redis: expect.stringMatching(/^redis:\/\/127\.0\.0\.1:\d+$/) });
  });

  it('masks the password of REDIS_URL in the log line', async () => {
    setup = rateLimiterFromConfig({ REDIS_URL: `redis://app:s3cret@127.0.0.1:${await freePort()}` }, log.logger);
    expect(await setup.ready(5_000)).toBe(false);
    expect(log.lines.find((l) => l.msg === OPEN_LINE)?.redis).toMatch(/^redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+$/);
    expect(log.text.join('\n')).not.toContain('s3cret');
  });
});

describeWithRedis('rateLimiterFromConfig with REDIS_URL (real Redis)', () => {
  const setups: ConfiguredLimiter[] = [];
  const servers: ShapeServer[] = [];
  const log = captureLogger();
  beforeAll(async () => {
    if (!REDIS_URL) throw new Error('Redis is required under CI=true: REDIS_URL is not set');
    const probe = rateLimiterFromConfig({ REDIS_URL }, log.logger);
    const ok = await probe.ready(5_000);
    await probe.close();
    if (!ok) throw new Error(`Redis at ${REDIS_URL} is not reachable (under CI=true, or with REDIS_URL set, that is a failure)`);
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const s of setups.splice(0)) await s.close();
  });
  afterAll(() => closeAllChannels());

  /** One replica: its own Redis client and limiter built from the configuration (as a separate process would). */
  const replica = async (shape: TokenBucketShape, keyPrefix: string, failMode: 'open' | 'closed' = 'open', url = REDIS_URL ?? '') => {
    const setup = rateLimiterFromConfig({ REDIS_URL: url, RATE_LIMIT_FAIL: failMode }, log.logger, { shape, keyPrefix });
    setups.push(setup);
    // Connected before serving: a call before the connection would fail open and break the count.
    expect(await setup.ready(5_000)).toBe(true);
    const server = await startShapeServer([rateLimitInterceptor({ limiter: setup })]);
    servers.push(server);
    return { server, setup };
  };
  /** Two replicas sharing `keyPrefix`. */
  const twoReplicas = async (shape: TokenBucketShape, keyPrefix: string) => [(await replica(shape, keyPrefix)).server, (await replica(shape, keyPrefix)).server];
  const handledBy = (targets: ShapeServer[]) => targets.reduce((sum, t) => sum + t.observed.contexts.length, 0);

  /**
   * 3N unary calls at once, alternating between the replicas, each replica's calls on one
   * channel connected beforehand. One fixed window: rate-limiter-flexible's Redis limiter starts
   * a key's window at its first consume (SET NX with EX duration), and all 3N consumes of this
   * run reach Redis well inside that second (loopback, established connections, no waits).
   */
  const spread = async (targets: ShapeServer[], rounds: number) => {
    const clients = targets.map((t) => t.client(authV1.AuthServiceClient, { defaultDeadlineMs: 0 }));
    await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5_000, (e) => (e ? reject(e) : resolve())))));
    const unary = (client: authV1.AuthServiceClient) =>
      new Promise<string>((resolve) => client.getUser({ userId: 'u1' }, (e) => resolve(e ? `${codeName(e.code ?? grpc.status.UNKNOWN)}: ${e.details}` : 'OK')));
    return Promise.all(Array.from({ length: rounds }).flatMap(() => clients.map(unary)));
  };
  const EXHAUSTED = `RESOURCE_EXHAUSTED: ${RATE_LIMITED_MESSAGE}`;

  it('takes RATE_LIMIT_RPS and RATE_LIMIT_BURST into Redis: RPS=3 BURST=2 allows 5 of 6 consumes, the burst key kept for its 10 s window', async () => {
    const keyPrefix = runPrefix();
    const setup = rateLimiterFromConfig({ REDIS_URL, RATE_LIMIT_RPS: 3, RATE_LIMIT_BURST: 2 }, log.logger, { keyPrefix });
    setups.push(setup);
    expect(await setup.ready(5_000)).toBe(true);
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push((await setup.limit({ principal: 'user:u', path: '/m' })).kind === 'allow' ? 'allowed' : 'rejected');
    // Steady window 1 s, burst window 10 s: the six consumes are milliseconds apart on loopback.
    expect(outcomes).toEqual(['allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'rejected']);
    const ttlBurst = await setup.redis?.pttl(`${keyPrefix}:burst:user:u|/m`);
    expect(ttlBurst).toBeGreaterThan(1_000);
    expect(await setup.redis?.pttl(`${keyPrefix}:steady:user:u|/m`)).toBeLessThanOrEqual(1_000);
    await setup.redis?.del(`${keyPrefix}:steady:user:u|/m`, `${keyPrefix}:burst:user:u|/m`);
  });

  it('two replicas share one limit of N=20/s: of 3N=60 calls spread over both, exactly 20 succeed', async () => {
    const both = await twoReplicas({ points: 20, duration: 1, burstPoints: 0, burstDuration: 1 }, runPrefix());
    const outcomes = await spread(both, 30);
    expect([outcomes.length, count(outcomes, 'OK'), count(outcomes, EXHAUSTED)]).toEqual([60, 20, 40]);
    expect(handledBy(both)).toBe(20);
  });

  it('the token-bucket shape holds across replicas: 10/s steady plus a burst of 10 gives exactly 20 of 60', async () => {
    const both = await twoReplicas({ points: 10, duration: 1, burstPoints: 10, burstDuration: 10 }, runPrefix());
    const outcomes = await spread(both, 30);
    expect([outcomes.length, count(outcomes, 'OK'), count(outcomes, EXHAUSTED)]).toEqual([60, 20, 40]);
    expect(handledBy(both)).toBe(20);
  });

  it('Redis going away and coming back: UNAVAILABLE while down (fail closed), limited again after, one line each way', async () => {
    const proxy = await tcpProxy(new URL(REDIS_URL ?? 'redis://127.0.0.1:6379'));
    try {
      log.lines.length = 0;
      const { server: s, setup } = await replica({ points: 2, duration: 60, burstPoints: 0, burstDuration: 1 }, runPrefix(), 'closed', `redis://127.0.0.1:${proxy.port}`);
      const call = async () => {
        const r = await s.call('unary');
        return r.code === grpc.status.OK ? 'OK' : `${codeName(r.code)}: ${r.details}`;
      };
      const before = [await call()];
      await proxy.stop();
      const during = [await call(), await call()];
      await proxy.start();
      // ioredis reconnects on its own (backoff 50 ms, 100 ms, ...).
      await until(() => setup.redis?.status === 'ready', 'the client to reconnect', 2_000);
      const after = [await call(), await call()];
      const unavailable = `UNAVAILABLE: ${RATE_LIMITER_UNAVAILABLE_MESSAGE}`;
      // The budget of 2 per minute survived the outage in Redis: 1 used before, 1 left after.
      expect({ before, during, after }).toEqual({ before: ['OK'], during: [unavailable, unavailable], after: ['OK', EXHAUSTED] });
      expect(log.lines.filter((l) => l.msg === CLOSED_LINE || l.msg === RECOVERED_LINE).map((l) => l.msg)).toEqual([CLOSED_LINE, RECOVERED_LINE]);
    } finally {
      await proxy.stop();
    }
  });

});

/** A TCP forwarder on a fixed loopback port to `target`, stoppable (all connections cut) and restartable. */
async function tcpProxy(target: URL): Promise<{ port: number; start(): Promise<void>; stop(): Promise<void> }> {
  const port = await freePort();
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = new Socket();
        upstream.connect(Number(target.port || 6379), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
  await start();
  return { port, start, stop };
}
