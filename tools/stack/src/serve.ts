/**
 * `nx serve <service>`: one service in watch mode. `tsc -b --watch` rebuilds the app and every
 * lib it references on a save; after a build with no errors the service is stopped gracefully
 * (SIGTERM) and started again from dist/, and this runner says when it is SERVING again
 * (grpc.health.v1) and how long after the save. A build with errors keeps the old process
 * serving. Logs are pino-pretty lines on a terminal, the services' JSON lines otherwise.
 * Variables: those `npm start` gives the service (ports 5005x/910x, DATA_DIR .data/<name>,
 * the `*_TARGET`s), any variable set in the shell winning. README "Run one service alone".
 */
import { channelCredentialsFromFiles, waitForServing } from '@grpc-patterns/grpc-kit';
import { repoRoot } from '@grpc-patterns/testing';
import { Command } from 'commander';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { forEachLine, lineFormatter } from './log-format.js';
import { defaultDataRoot, devEnv, findService, parseTscLine, portOf, seconds, servingAddress } from './serve-support.js';

interface Options {
  pretty?: boolean;
  dataDir: string;
}

const program = new Command('serve')
  .description('Run one service in watch mode: rebuild on save, restart, report SERVING.')
  .argument('<service>', 'auth, analytics, metrics, chat or orders')
  .option('--pretty', 'pino-pretty log lines (default: when stdout is a terminal)')
  .option('--no-pretty', 'the services\' JSON log lines as they are')
  .option('--data-dir <dir>', 'root of the DATA_DIR folders (as npm start)', defaultDataRoot(repoRoot));

/** How long a stopping service may take before SIGKILL: its grace period plus the backstop, ms. */
const STOP_TIMEOUT_MS = 15_000;

async function main(): Promise<void> {
  program.parse();
  const options = program.opts<Options>();
  const service = findService(program.args[0]);
  const env = devEnv(service, options.dataDir);
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const format = lineFormatter(pretty, Boolean(process.stdout.isTTY));
  const say = (text: string) => process.stdout.write(`serve: ${text}\n`);
  const credentials =
    env['TLS_MODE'] === 'tls' || env['TLS_MODE'] === 'mtls'
      ? channelCredentialsFromFiles({ mode: env['TLS_MODE'], caFile: env['TLS_CA_FILE'] || undefined, certFile: env['TLS_CERT_FILE'] || undefined, keyFile: env['TLS_KEY_FILE'] || undefined })
      : undefined;

  say(`${service.name}: GRPC_PORT=${env['GRPC_PORT']} METRICS_PORT=${env['METRICS_PORT']} DATA_DIR=${env['DATA_DIR']}; watching apps/${service.name} and the libs it references`);

  let child: ChildProcess | undefined;
  let generation = 0;
  let changedAt: number | undefined;
  let stopping = false;

  const stopChild = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const startChild = async (builtAt: number): Promise<void> => {
    const mine = ++generation;
    const savedAt = changedAt;
    changedAt = undefined;
    await stopChild();
    if (mine !== generation || stopping) return;
    const startedAt = Date.now();
    const proc = spawn(process.execPath, [join(repoRoot, 'apps', service.name, 'dist', 'main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let address: string | undefined;
    const bound = new Promise<string>((resolve) => {
      const onLine = (sink: NodeJS.WriteStream) => (line: string) => {
        const found = servingAddress(line);
        if (found && !address) {
          address = found;
          resolve(found);
        }
        sink.write(`${format(line)}\n`);
      };
      forEachLine(proc.stdout, onLine(process.stdout));
      forEachLine(proc.stderr, onLine(process.stderr));
    });
    const died = new AbortController();
    proc.once('exit', (code, signal) => {
      died.abort(new Error(`exited (${signal ?? `code ${code}`})`));
      if (child === proc && !stopping) say(`${service.name} exited (${signal ?? `code ${code}`}); fix and save to restart it`);
    });
    try {
      // GRPC_PORT=0 binds a port from the OS: the "serving" line says which.
      const port = Number(env['GRPC_PORT']) || portOf(await Promise.race([bound, new Promise<never>((_, reject) => died.signal.addEventListener('abort', () => reject(died.signal.reason)))]));
      await waitForServing(`ipv4:127.0.0.1:${port}`, { service: service.fullName, timeoutMs: 120_000, signal: died.signal, credentials });
      if (mine !== generation) return;
      const now = Date.now();
      const timing = savedAt === undefined ? `in ${seconds(now - startedAt)}` : `${seconds(now - savedAt)} after the change (build ${seconds(builtAt - savedAt)}, restart ${seconds(now - builtAt)})`;
      say(`${service.name} SERVING on 127.0.0.1:${port} (pid ${proc.pid}) ${timing}`);
    } catch (error) {
      if (mine === generation && !stopping) say(`${service.name} not SERVING: ${(error as Error).message}`);
    }
  };

  const tsc = spawn(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', '--watch', '--preserveWatchOutput', join(repoRoot, 'apps', service.name, 'tsconfig.lib.json')], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  forEachLine(tsc.stderr, (line) => process.stderr.write(`tsc: ${line}\n`));
  forEachLine(tsc.stdout, (line) => {
    const event = parseTscLine(line);
    if (event.kind === 'change') {
      changedAt ??= Date.now();
      say('change detected, rebuilding ...');
    } else if (event.kind === 'done' && event.errors === 0) {
      void startChild(Date.now());
    } else if (event.kind === 'done') {
      changedAt = undefined;
      say(`build failed (${event.errors} error${event.errors === 1 ? '' : 's'}); ${child ? 'the running process keeps serving' : 'waiting for a fix'}`);
    }
    if (line.trim() !== '' && !(event.kind === 'done' && event.errors === 0)) process.stdout.write(`tsc: ${line}\n`);
  });
  tsc.once('exit', (code) => {
    if (stopping) return;
    say(`tsc exited (code ${code})`);
    void shutdown(1);
  });

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    tsc.kill('SIGTERM');
    await stopChild();
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`serve: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
