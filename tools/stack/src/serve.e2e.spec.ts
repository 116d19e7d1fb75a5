// End-to-end: `nx serve metrics` exactly as a developer runs it (Nx, its build dependencies,
// tools/stack/dist/serve.js, tsc -b --watch, the built service as a child), on GRPC_PORT=0 and a
// temp data dir. The test waits for SERVING, edits apps/metrics/src/main.ts (appends a line that
// prints a marker when the module loads), and expects a new process, SERVING again, printing
// the marker: the change is what serves. The file is restored in `finally`, and the rebuild of
// the restored file is awaited, so dist/ ends as it began.
import { waitForServing } from '@grpc-patterns/grpc-kit';
import { describeRequiring, repoRoot } from '@grpc-patterns/testing';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachLine } from './log-format.js';

const source = join(repoRoot, 'apps', 'metrics', 'src', 'main.ts');
const nx = join(repoRoot, 'node_modules', 'nx', 'dist', 'bin', 'nx.js');
const SERVING = /serve: metrics SERVING on 127\.0\.0\.1:(\d+) \(pid (\d+)\) (.*)$/;

interface Serving {
  port: number;
  pid: number;
  timing: string;
}

describeRequiring('nx serve <service> (watch mode)', existsSync(nx) ? undefined : 'node_modules/nx not installed (npm ci)', () => {
  let dataDir: string;
  let serve: ChildProcess | undefined;
  let output = '';
  const waiters: Array<{ test: (s: Serving) => boolean; resolve: (s: Serving) => void }> = [];

  /** The next "SERVING" line of the runner that passes `test`, within `ms`. */
  const nextServing = (test: (s: Serving) => boolean, ms: number) =>
    new Promise<Serving>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching SERVING line within ${ms} ms; output:\n${output.slice(-4000)}`)), ms);
      waiters.push({ test, resolve: (s) => (clearTimeout(timer), resolve(s)) });
    });

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'grpc-patterns-serve-'));
  });
  /** SIGTERM to the serve process group; resolves when nx has exited. */
  const stopServe = async () => {
    if (!serve?.pid || serve.exitCode !== null || serve.signalCode !== null) return;
    const exited = new Promise((resolve) => serve?.once('exit', resolve));
    process.kill(-serve.pid, 'SIGTERM');
    await exited;
  };
  afterAll(async () => {
    await stopServe();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts the service on a save and serves the changed code', async () => {
    // Its own process group (detached), so the whole tree (nx, serve.js, tsc, the service) is
    // signalled at the end, as Ctrl-C in a terminal would.
    serve = spawn(process.execPath, [nx, 'serve', 'metrics', '--outputStyle=stream'], {
      cwd: repoRoot,
      detached: true,
      env: { ...process.env, GRPC_PORT: '0', METRICS_PORT: '0', DATA_DIR: dataDir, NX_DAEMON: 'false', NX_TUI: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLine = (line: string) => {
      output += `${line}\n`;
      const m = SERVING.exec(line);
      if (!m) return;
      const serving = { port: Number(m[1]), pid: Number(m[2]), timing: m[3] };
      const index = waiters.findIndex((w) => w.test(serving));
      if (index >= 0) waiters.splice(index, 1)[0].resolve(serving);
    };
    if (!serve.stdout || !serve.stderr) throw new Error('spawned without pipes');
    forEachLine(serve.stdout, onLine);
    forEachLine(serve.stderr, onLine);

    // Nx first builds metrics and its libs (cached when up to date).
    const first = await nextServing(() => true, 170_000);
    expect(first.timing).toMatch(/^in \d+\.\d s$/);
    await waitForServing(`ipv4:127.0.0.1:${first.port}`, { service: 'metrics.v1.MetricsService', timeoutMs: 10_000 });

    const original = readFileSync(source, 'utf8');
    const marker = randomUUID();
    try {
      const restarted = nextServing((s) => s.pid !== first.pid, 170_000);
      writeFileSync(source, `${original}\nprocess.stdout.write(JSON.stringify({ msg: 'serve e2e marker', marker: '${marker}' }) + '\\n');\n`);
      const second = await restarted;
      console.log(`nx serve metrics: SERVING again ${second.timing}`);
      expect(second.timing).toMatch(/^\d+\.\d s after the change \(build \d+\.\d s, restart \d+\.\d s\)$/);
      await waitForServing(`ipv4:127.0.0.1:${second.port}`, { service: 'metrics.v1.MetricsService', timeoutMs: 10_000 });
      // The new process runs the edited code; the old one was stopped gracefully.
      expect(output).toContain(`"marker":"${marker}"`);
      expect(output).toMatch(new RegExp(`"pid":${first.pid},[^\\n]*"msg":"stopped"`));
      expect(() => process.kill(first.pid, 0)).toThrow();
      const restored = nextServing((s) => s.pid !== second.pid, 170_000);
      writeFileSync(source, original);
      await restored;
    } finally {
      if (readFileSync(source, 'utf8') !== original) writeFileSync(source, original);
      await stopServe();
      // Whatever happened above, dist/ is built from the restored file before the test ends.
      const rebuilt = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(repoRoot, 'apps', 'metrics', 'tsconfig.lib.json')], { encoding: 'utf8' });
      expect(rebuilt.status).toBe(0);
    }
  }, 540_000);
});
