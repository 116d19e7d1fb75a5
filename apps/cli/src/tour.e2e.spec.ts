// End to end: the five BUILT services as child processes (as `npm start` runs them), and the
// tour against them. Skipped when a service is not built, except under CI=true, where a
// missing build is a failure (spawnService then throws "... not found; build it first").
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { appMain, freePort, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICES, type Targets } from './config.js';
import { BufferWriter } from './format.js';
import { runTour } from './tour.js';

const missing = SERVICES.filter((s) => !existsSync(appMain(s)));
const run = missing.length === 0 || process.env.CI === 'true';
if (!run) console.warn(`tour e2e skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

(run ? describe : describe.skip)('tour against the real services', () => {
  jest.setTimeout(180_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'cli-tour-'));
  const services: ServiceProcess[] = [];
  let targets: Targets;

  beforeAll(async () => {
    const start = async (name: string, env: Record<string, string> = {}) => {
      const service = await spawnService({ name, env: { METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', ...env } });
      services.push(service);
      return service;
    };
    const auth = await start('auth', { DATA_DIR: join(dataDir, 'auth') });
    const [analytics, metrics, chat, orders] = await Promise.all([
      start('analytics'),
      start('metrics'),
      start('chat'),
      start('orders', { DATA_DIR: join(dataDir, 'orders'), AUTH_TARGET: auth.target }),
    ]);
    targets = { auth: auth.target, analytics: analytics.target, metrics: metrics.target, chat: chat.target, orders: orders.target };
  });

  afterAll(async () => {
    closeAllChannels();
    await Promise.all(services.map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every step passes every check, and the output shows each section and the summary', async () => {
    const out = new BufferWriter();
    const result = await runTour(targets, { out });
    const text = out.text();
    if (!result.ok) console.error(text);
    expect(result.steps.map((s) => [s.pattern, s.shape, s.ok])).toEqual([
      ['auth', 'unary', true],
      ['analytics', 'server streaming', true],
      ['metrics', 'client streaming', true],
      ['chat', 'bidi streaming', true],
      ['orders', 'idempotent unary', true],
    ]);
    expect(result.ok).toBe(true);
    for (const step of result.steps) {
      expect(step.checks.length).toBeGreaterThanOrEqual(4);
      expect(step.checks.every((c) => c.ok)).toBe(true);
    }
    expect(text).not.toMatch(/^\s*FAIL /m);
    for (const heading of ['== 1. auth (unary) ==', '== 2. analytics (server streaming) ==', '== 3. metrics (client streaming) ==', '== 4. chat (bidi streaming) ==', '== 5. orders (idempotent unary) ==', '== summary ==']) {
      expect(text).toContain(heading);
    }
    expect(text).toContain('Login with a wrong password -> UNAUTHENTICATED');
    expect(text).toContain('retry carries the response header idempotent-replayed: true');
    expect(text).toMatch(/all 5 patterns behaved as specified/);
  });

  it('reports a service that is down as that step FAILED with UNAVAILABLE, and still runs the others', async () => {
    const out = new BufferWriter();
    const result = await runTour({ ...targets, chat: `ipv4:127.0.0.1:${await freePort()}` }, { out, chatWaitMs: 2_000 });
    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => [s.pattern, s.ok])).toEqual([
      ['auth', true],
      ['analytics', true],
      ['metrics', true],
      ['chat', false],
      ['orders', true],
    ]);
    expect(result.steps[3].result).toMatch(/^UNAVAILABLE: /);
    expect(out.text()).toMatch(/1 of 5 patterns FAILED/);
  });
});
