/**
 * Runs a built service (`apps/<name>/dist/main.js`) as a real child process, the way the stack
 * runner and production run it, and waits for its health service to say SERVING.
 */
import { waitForServing } from '@grpc-patterns/grpc-kit';
import type * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** The repository root (where nx.json is). */
export const repoRoot = resolve(__dirname, '..', '..', '..');

/** Path of an app's built entry point. */
export function appMain(app: string): string {
  return join(repoRoot, 'apps', app, 'dist', 'main.js');
}

/** A free TCP port on 127.0.0.1, from the OS (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The bound `host:port` of a service's pino "serving" line (grpc-kit startServer logs the port
 * the OS gave for GRPC_PORT=0), or undefined for any other line.
 */
export function servingAddress(line: string): string | undefined {
  if (!line.startsWith('{') || !line.includes('"serving"')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; address?: unknown };
    return entry.msg === 'serving' && typeof entry.address === 'string' ? entry.address : undefined;
  } catch {
    return undefined;
  }
}

/** The `url` of a service's "metrics endpoint" log line (the bound METRICS_PORT), if it logged one. */
export function metricsEndpoint(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('"metrics endpoint"')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
      if (entry.msg === 'metrics endpoint' && typeof entry.url === 'string') return entry.url;
    } catch {
      // not a log line
    }
  }
  return undefined;
}

/** A running service process. */
export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** `ipv4:127.0.0.1:<port>` */
  target: string;
  port: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null if killed by a signal) when the process ends. */
  exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Variables that switch a service to a shared backend or registry; {@link spawnService} passes only those
 * in `options.env`, not the parent's (the root README "Tests" says why).
 */
export const BACKEND_ENV_VARIABLES = ['DATABASE_URL', 'NATS_URL', 'REDIS_URL', 'ETCD_ENDPOINTS', 'DISCOVERY'] as const;

/** Default readiness wait of {@link spawnService}, ms (2 min). */
export const SPAWN_READY_TIMEOUT_MS = 120_000;

/** Options of {@link spawnService}. */
export interface SpawnServiceOptions {
  /** App folder name under apps/ ("auth"). */
  name: string;
  /**
   * GRPC_PORT to use; default a free port. 0: the service binds a port from the OS and the
   * bound one is read from its "serving" log line (grpc-kit startServer; needs LOG_LEVEL info or
   * lower), so no other process can take the port between its choice and the bind.
   */
  port?: number;
  /**
   * Extra environment (merged over the parent's). The parent's backend and discovery
   * variables ({@link BACKEND_ENV_VARIABLES}) are not passed on: give them here to use them.
   */
  env?: Record<string, string>;
  /** Health service name to wait for; default "" (the whole server). */
  healthService?: string;
  /**
   * How long to wait for SERVING, ms. Default {@link SPAWN_READY_TIMEOUT_MS}: generous, because
   * auth and orders start PGlite (WASM) and a loaded 2-core CI machine was seen taking 36 s.
   */
  readyTimeoutMs?: number;
  /** Pass through output to this process' stdout/stderr as well. */
  inheritOutput?: boolean;
  /** Called with every complete output line as it arrives (the stack runner's `--logs`). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Credentials of the readiness health checks: a service run with TLS_MODE=tls|mtls needs them (docs/tls.md). Default insecure. */
  credentials?: grpc.ChannelCredentials;
}

/**
 * Starts `node apps/<name>/dist/main.js` and waits until it is SERVING; the child gets the parent's
 * environment except {@link BACKEND_ENV_VARIABLES}, plus `options.env`.
 * @throws Error when the app is not built, exits before it is ready (with its last output), or is not SERVING in time.
 */
export async function spawnService(options: SpawnServiceOptions): Promise<ServiceProcess> {
  const main = appMain(options.name);
  if (!existsSync(main)) throw new Error(`${options.name}: ${main} not found; build it first (npx nx run-many -t build)`);
  const port = options.port ?? (await freePort());
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  for (const name of BACKEND_ENV_VARIABLES) delete inherited[name];
  const child = spawn(process.execPath, [main], {
    // METRICS_PORT 0 unless given: a free port, so test services never collide with each other
    // or with a stack already running on 9101..9105.
    env: { ...inherited, GRPC_HOST: '127.0.0.1', METRICS_PORT: '0', ...options.env, GRPC_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let reportBound: (port: number) => void = () => undefined;
  const bound = new Promise<number>((resolveBound) => (reportBound = resolveBound));
  const pending = { stdout: '', stderr: '' };
  const append = (chunk: Buffer, stream: 'stdout' | 'stderr', sink: NodeJS.WriteStream) => {
    output += chunk.toString();
    if (output.length > 1_000_000) output = output.slice(-500_000);
    if (options.inheritOutput) sink.write(chunk);
    pending[stream] += chunk.toString();
    let newline: number;
    while ((newline = pending[stream].indexOf('\n')) >= 0) {
      const line = pending[stream].slice(0, newline);
      pending[stream] = pending[stream].slice(newline + 1);
      const address = servingAddress(line);
      if (address) reportBound(Number(address.slice(address.lastIndexOf(':') + 1)));
      options.onLine?.(line, stream);
    }
  };
  child.stdout?.on('data', (c: Buffer) => append(c, 'stdout', process.stdout));
  child.stderr?.on('data', (c: Buffer) => append(c, 'stderr', process.stderr));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const lastLines = () => output.trim().split('\n').slice(-5).join('\n');
  const died = new AbortController();
  void exited.then((code) => died.abort(new Error(`${options.name} exited with code ${code} before it was ready:\n${lastLines()}`)));
  const timeoutMs = options.readyTimeoutMs ?? SPAWN_READY_TIMEOUT_MS;
  const startedAt = Date.now();
  let boundPort = port;
  try {
    if (port === 0) {
      boundPort = await new Promise<number>((resolvePort, reject) => {
        const timer = setTimeout(() => reject(new Error(`${options.name} logged no "serving" line within ${timeoutMs} ms`)), timeoutMs);
        died.signal.addEventListener('abort', () => (clearTimeout(timer), reject(died.signal.reason)));
        void bound.then((p) => (clearTimeout(timer), resolvePort(p)));
      });
    }
    await waitForServing(`ipv4:127.0.0.1:${boundPort}`, { service: options.healthService, timeoutMs: Math.max(1, timeoutMs - (Date.now() - startedAt)), signal: died.signal, credentials: options.credentials });
  } catch (error) {
    child.kill('SIGKILL');
    // A process that is still up when the wait gives up: its last lines say why.
    if (died.signal.aborted) throw error;
    throw new Error(`${(error as Error).message}; last output:\n${lastLines()}`);
  }
  const target = `ipv4:127.0.0.1:${boundPort}`;
  return {
    name: options.name,
    child,
    target,
    port: boundPort,
    output: () => output,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
