// End to end: the five BUILT services as child processes (as `npm start` runs them), each
// behind the interceptor chain (every non-public call needs auth's access token, verified
// against auth's JWKS: hence AUTH_TARGET for every service), and the tour against them. Skipped when a service is not built, except under CI=true, where a
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
  // Generous: on a loaded 2-core machine PGlite alone can take over 30 s to start (measured 36 s).
  jest.setTimeout(300_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'cli-tour-'));
  const services: ServiceProcess[] = [];
  let targets: Targets;

  beforeAll(async () => {
    const start = async (name: string, env: Record<string, string> = {}) => {
      const service = await spawnService({ name, env: { METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', ...env }, readyTimeoutMs: 120_000 });
      services.push(service);
      return service;
    };
    const auth = await start('auth', { DATA_DIR: join(dataDir, 'auth') });
    // allSettled: when one fails to start, the others are still in `services` for afterAll to stop.
    const started = await Promise.allSettled([
      start('analytics', { AUTH_TARGET: auth.target }),
      start('metrics', { AUTH_TARGET: auth.target }),
      start('chat', { AUTH_TARGET: auth.target }),
      start('orders', { DATA_DIR: join(dataDir, 'orders'), AUTH_TARGET: auth.target }),
    ]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [analytics, metrics, chat, orders] = started.map((r) => (r as PromiseFulfilledResult<ServiceProcess>).value);
    targets = { auth: auth.target, analytics: analytics.target, metrics: metrics.target, chat: chat.target, orders: orders.target };
  });

  afterAll(async () => {
    closeAllChannels();
    await Promise.all(services.map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every step passes every check, and the output shows each section and the summary', async () => {
    const out = new BufferWriter();
    const runId = `e2e${Date.now().toString(36)}`;
    const result = await runTour(targets, { out, runId });
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
    // The interceptor chain, seen from the client: the token on every call after Login ...
    expect(text).toContain('from here on every call carries "authorization: Bearer <access token>"');
    expect(text).toContain('GetUser with the token found the user by id');
    // ... and refused without one, on every service and every call shape;
    for (const call of ['GetUser', 'StreamFlights', 'UploadMetrics', 'Chat', 'PlaceOrder']) {
      expect(text).toContain(`ok   ${call} without a token -> UNAUTHENTICATED "missing bearer token"`);
    }
    expect(text).toContain('ok   GetUser with a malformed token -> UNAUTHENTICATED "invalid token"');
    // x-request-id: generated on a rejection, echoed when sent;
    expect(text).toMatch(/ok {3}the rejection carries a generated x-request-id \([0-9a-f-]{36}\)/);
    expect(text).toContain(`ok   response header x-request-id echoes the one sent (tour-${runId}-get-user)`);
    // INVALID_ARGUMENT with google.rpc.BadRequest in grpc-status-details-bin;
    expect(text).toContain(
      'ok   Register with a bad username and a short password -> INVALID_ARGUMENT "username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"; password: must be at least 8 characters"',
    );
    expect(text).toContain('ok   grpc-status-details-bin holds a google.rpc.BadRequest with the field violations username, password');
    expect(text).toContain('ok   quantity 0 (token sent: validation runs after auth) -> INVALID_ARGUMENT "items[0].quantity: must be between 1 and 1000"');
    expect(text).toContain('ok   grpc-status-details-bin holds a google.rpc.BadRequest with the field violations items[0].quantity');
    // chat names members after their tokens (CHAT_IDENTITY=token, the default): no joining as another user;
    expect(text).toMatch(/ok {3}bob_\S+ joining as \S+'s id -> PERMISSION_DENIED "join\.user: must be empty or your own user id "[0-9a-f-]{36}""/);
    // orders for the logged-in user only.
    expect(text).toContain(`ok   an order for other_${runId}'s user_id -> PERMISSION_DENIED "orders can only be placed for yourself"`);
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
