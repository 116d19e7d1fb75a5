// Red team, issue 17 finding 1: a service whose stdout nobody reads. A stalled log shipper or a
// killed runner leaves the service's stdout pipe full; it must still serve, keep its log buffer
// bounded (dropped lines counted in log_lines_dropped_total), and exit after SIGTERM within
// SHUTDOWN_GRACE_MS + the backstop. The built metrics service runs as a real child process whose
// stdout pipe this test never reads; a second case also closes the reader right after SIGTERM
// (EPIPE while the exit flush runs). A third runs the logger alone in a child with --expose-gc
// to measure what 64 MiB of lines cost its heap when they cannot be written.
import { closeAllChannels, SHUTDOWN_BACKSTOP_MS, waitForServing } from '@grpc-patterns/grpc-kit';
import { appMain, BACKEND_ENV_VARIABLES, describeRequiring, freePort, grpc, repoRoot } from '@grpc-patterns/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rssBytes } from './stack.js';

const GRACE_MS = 1_000;
/**
 * SIGTERM to exit at the latest: grace + backstop, plus the logger's flush budget (250 ms,
 * LOG_FLUSH_BUDGET_MS) and slack for a loaded 2-core machine. Today's main never exits.
 */
const EXIT_BOUND_MS = GRACE_MS + SHUTDOWN_BACKSTOP_MS + 5_000;
/** Health checks sent while stdout is stalled: some 9 MB of "finished call" lines, over twice the 4 MiB buffer. */
const CALLS = 20_000;
/** A loose sanity bound on RSS growth during those calls (the heap case below measures the buffer itself). */
const RSS_GROWTH_LIMIT = 200 * 1024 * 1024;

interface Unread {
  child: ChildProcess;
  target: string;
  metricsUrl: string;
  stderr(): string;
}

/** Starts the built metrics service with its stdout on a pipe that is never read. */
async function spawnUnread(): Promise<Unread> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of BACKEND_ENV_VARIABLES) delete env[name];
  const child = spawn(process.execPath, [appMain('metrics')], {
    env: { ...env, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(port), METRICS_PORT: String(metricsPort), SHUTDOWN_GRACE_MS: String(GRACE_MS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pause(); // never read: once the pipe is full, every write gets EAGAIN
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const target = `ipv4:127.0.0.1:${port}`;
  try {
    await waitForServing(target, { timeoutMs: 120_000 });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { child, target, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, stderr: () => stderr };
}

/** `log_lines_dropped_total` from the service's /metrics, 0 when it is not there. */
async function droppedLines(url: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const m = /^log_lines_dropped_total(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** `count` health checks, 64 at a time, each with a 128-character request id (logged). */
async function healthChecks(target: string, count: number): Promise<number> {
  const client = new grpc.Client(target.replace(/^ipv4:/, ''), grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', 'r'.repeat(128));
  let sent = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) =>
      client.makeUnaryRequest('/grpc.health.v1.Health/Check', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), metadata, { deadline: Date.now() + 10_000 }, (error) => {
        if (error) failed++;
        resolve();
      }),
    );
  const worker = async () => {
    while (sent < count) {
      sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  client.close();
  return failed;
}

/** SIGTERM, then the time to exit (capped at `capMs`, after which the child is SIGKILLed). */
async function terminate(child: ChildProcess, capMs: number, afterSignal?: () => void): Promise<{ ms: number; code: number | null; exited: boolean }> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = Date.now();
  child.kill('SIGTERM');
  afterSignal?.();
  const result = await Promise.race([exited.then((code) => ({ code, exited: true })), new Promise<{ code: null; exited: false }>((resolve) => setTimeout(() => resolve({ code: null, exited: false }), capMs))]);
  const ms = Date.now() - started;
  if (!result.exited) {
    child.kill('SIGKILL');
    await exited;
  }
  return { ms, ...result };
}

const missing = existsSync(appMain('metrics')) ? undefined : 'apps/metrics is not built (npx nx run-many -t build)';

describeRequiring('red team: stdout that nobody reads (issue 17, finding 1)', missing, () => {
  afterAll(() => closeAllChannels()); // waitForServing's health channels
  for (const variant of ['stalled', 'reader gone after SIGTERM'] as const) {
    it(`${variant}: metrics keeps serving, drops and counts log lines, and exits within grace + backstop`, async () => {
      const service = await spawnUnread();
      try {
        const rssBefore = rssBytes(service.child.pid ?? 0);
        const failed = await healthChecks(service.target, CALLS);
        const rssAfter = rssBytes(service.child.pid ?? 0);
        const dropped = await droppedLines(service.metricsUrl);
        const exit = await terminate(service.child, EXIT_BOUND_MS + 2_000, variant === 'stalled' ? undefined : () => service.child.stdout?.destroy());
        console.log(`${variant}: ${CALLS} calls (${failed} failed), ${dropped} lines dropped, RSS ${Math.round(rssBefore / 2 ** 20)} -> ${Math.round(rssAfter / 2 ** 20)} MiB, SIGTERM to exit ${exit.exited ? `${exit.ms} ms (code ${exit.code})` : `none in ${exit.ms} ms (SIGKILLed)`}`);
        expect({ exited: exit.exited, withinBound: exit.ms <= EXIT_BOUND_MS, code: exit.code }).toEqual({ exited: true, withinBound: true, code: 0 });
        expect(failed).toBe(0); // serving never waited on stdout
        expect(dropped).toBeGreaterThan(0); // the buffer is bounded: lines past it were dropped, and counted
        expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT);
        expect(service.stderr()).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
      } finally {
        if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
        service.child.stdout?.destroy(); // a paused pipe never sees its end: it would hold jest open
      }
    }, 240_000);
  }

  it('the logger alone: 64 MiB of lines to an unread pipe cost the heap at most the 4 MiB buffer, and process.exit() returns', async () => {
    // Runs the built @grpc-patterns/observability, as the services do; reports on stderr.
    const script = `
      const { createLogger, logStats } = require('@grpc-patterns/observability');
      const logger = createLogger({ service: 'flood' });
      const pad = 'x'.repeat(1000);
      global.gc();
      const before = process.memoryUsage().heapUsed;
      let i = 0;
      (function burst() {
        for (let k = 0; k < 1024; k++) logger.info({ i: i++, pad }, 'flood');
        if (i < 64 * 1024) return setImmediate(burst);
        global.gc();
        const grown = process.memoryUsage().heapUsed - before;
        process.stderr.write(JSON.stringify({ grown, dropped: logStats ? logStats(logger)?.dropped : undefined, exitAt: Date.now() }) + '\\n');
        process.exit(0);
      })();
    `;
    const child = spawn(process.execPath, ['--expose-gc', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pause();
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const exitedAt = Date.now();
    child.stdout?.destroy();
    const report = JSON.parse(stderr.trim().split('\n').pop() || '{}') as { grown?: number; dropped?: number; exitAt?: number };
    console.log(`logger alone: heap grew ${Math.round((report.grown ?? 0) / 2 ** 20)} MiB for 64 MiB of lines, ${report.dropped} dropped, process.exit() took ${report.exitAt ? exitedAt - report.exitAt : '?'} ms, code ${code}`);
    expect(report.grown).toBeLessThan(16 * 1024 * 1024); // 4 MiB buffer + slack; unbounded it is ~64 MiB
    expect(report.dropped).toBeGreaterThan(60_000);
    expect(code).toBe(0); // not killed: exit did not wait on the full pipe
    expect(exitedAt - (report.exitAt ?? exitedAt)).toBeLessThan(5_000);
  }, 120_000);
});
