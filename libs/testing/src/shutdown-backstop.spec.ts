// startServer()'s signal handling in a real child process: SIGTERM with a shutdown hook that
// never settles still ends the process (exit 1, one error line) shortly after the grace period,
// and a clean shutdown exits 0. Runs the built grpc-kit (dist), as services do.
import { spawn } from 'node:child_process';
import { repoRoot } from './process.js';

const GRACE_MS = 300;

function child(hookHangs: boolean): string {
  return `
    const { startServer } = require('@grpc-patterns/grpc-kit');
    const { createLogger } = require('@grpc-patterns/observability');
    const logger = createLogger({ service: 'backstop' });
    startServer({
      services: [], port: 0, host: '127.0.0.1', logger, shutdownGraceMs: ${GRACE_MS},
      afterStop: [() => ${hookHangs ? 'new Promise(() => {})' : 'Promise.resolve()'}],
    }).then(() => process.stdout.write('READY\\n'));
    setInterval(() => {}, 60_000); // a handle that keeps the event loop alive, like a store's timer
  `;
}

async function terminate(hookHangs: boolean): Promise<{ code: number | null; ms: number; output: string }> {
  const proc = spawn(process.execPath, ['-e', child(hookHangs)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('READY')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`child exited early (${code}): ${output}`)));
  });
  const started = Date.now();
  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { code, ms: Date.now() - started, output };
}

describe('startServer signal handling (child process)', () => {
  it('a clean shutdown exits 0', async () => {
    const { code, output } = await terminate(false);
    expect(code).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  }, 60_000);

  it('a hook that never settles: exit 1 after the grace period plus the backstop, with one error line', async () => {
    const { code, ms, output } = await terminate(true);
    expect(code).toBe(1);
    expect(output).toContain('shutdown did not finish: exiting');
    expect(output).not.toContain('"msg":"stopped"');
    expect(ms).toBeGreaterThanOrEqual(GRACE_MS + 2_000 - 100); // not before the backstop (2 s)
  }, 60_000);
});
