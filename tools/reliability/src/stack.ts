/**
 * The real services as child processes for the reliability suites: the built
 * `apps/<name>/dist/main.js` of each, spawned by libs/testing's spawnService (so a crash shows as
 * an exit), auth first (every other service verifies access tokens against its JWKS).
 */
import { checkHealth, unaryCall } from '@grpc-patterns/grpc-kit';
import { SERVICE_NAMES, type ServiceName } from '@grpc-patterns/manifest';
import { authV1 } from '@grpc-patterns/proto';
import { appMain, grpc, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { SERVICE_NAMES, type ServiceName } from '@grpc-patterns/manifest';


/** A registered user and an access token for `authorization: Bearer ...`. */
export interface StackUser {
  id: string;
  username: string;
  accessToken: string;
  /** Metadata carrying the token. */
  metadata(): grpc.Metadata;
}

/** Spawned services; `stop()` them in afterAll. */
export interface Stack {
  services: Partial<Record<ServiceName, ServiceProcess>>;
  /** The process of a service (throws when it was not started). */
  get(name: ServiceName): ServiceProcess;
  /** Registers and logs in a fresh user on auth. */
  user(prefix: string): Promise<StackUser>;
  stop(): Promise<void>;
}

/** jest timeout for a beforeAll that starts a stack, ms (auth, then the others, 120 s each at most). */
export const STACK_START_TIMEOUT_MS = 300_000;

/**
 * True when every app the suites spawn is built; a suite skips with the reason otherwise,
 * except under CI=true, where spawnService's "not found; build it first" fails it.
 */
export function stackBuilt(): { run: boolean; missing: string[] } {
  const missing = SERVICE_NAMES.filter((s) => !existsSync(appMain(s)));
  return { run: missing.length === 0 || process.env.CI === 'true', missing };
}

/**
 * Spawns auth plus `others` (each with AUTH_TARGET at it), logging at `warn` so the output holds only
 * warnings, errors and crashes; data directories live in a temp dir that stop() removes.
 * @throws Error when a service is not built or does not become SERVING (120 s each).
 */
export async function startStack(others: Exclude<ServiceName, 'auth'>[], env: Record<string, string> = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'reliability-'));
  const services: Partial<Record<ServiceName, ServiceProcess>> = {};
  const stop = async () => {
    await Promise.all(Object.values(services).map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  };
  const base = { LOG_LEVEL: 'warn', ...env };
  // Generous: PGlite's first start takes seconds, and much longer on a loaded CI machine.
  const readyTimeoutMs = 120_000;
  try {
    services.auth = await spawnService({ name: 'auth', readyTimeoutMs, env: { ...base, DATA_DIR: join(dataDir, 'auth') } });
    const authTarget = services.auth.target;
    // allSettled: when one fails, the started ones are still in `services` for stop().
    const started = await Promise.allSettled(
      others.map(async (name) => {
        services[name] = await spawnService({ name, readyTimeoutMs, env: { ...base, AUTH_TARGET: authTarget, DATA_DIR: join(dataDir, name) } });
      }),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await stop();
    throw error;
  }
  const get = (name: ServiceName) => {
    const s = services[name];
    if (!s) throw new Error(`${name} was not started`);
    return s;
  };
  let users = 0;
  return {
    services,
    get,
    async user(prefix) {
      const auth = new authV1.AuthServiceClient(get('auth').target, grpc.credentials.createInsecure());
      try {
        const username = `${prefix}${process.pid}x${++users}`.replace(/[^a-z0-9]/gi, '').slice(0, 32).toLowerCase();
        const password = 'correct horse battery staple';
        await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username, password, displayName: prefix }), { deadline: Date.now() + 30_000 });
        const login = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username, password }), { deadline: Date.now() + 30_000 });
        const accessToken = login.tokens?.accessToken ?? '';
        return {
          id: login.user?.id ?? '',
          username,
          accessToken,
          metadata() {
            const md = new grpc.Metadata();
            md.set('authorization', `Bearer ${accessToken}`);
            return md;
          },
        };
      } finally {
        auth.close();
      }
    },
    stop,
  };
}

/** Resident set size of a process, bytes: Linux /proc/<pid>/status VmRSS, else `ps -o rss=` (macOS). */
export function rssBytes(pid: number): number {
  if (existsSync(`/proc/${pid}/status`)) {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Number(m[1]) * 1024;
  }
  const kb = Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim());
  if (!Number.isFinite(kb) || kb <= 0) throw new Error(`no RSS for pid ${pid}`);
  return kb * 1024;
}

/**
 * What a healthy survivor looks like: still running, SERVING on health, and no crash line in
 * its output. Throws a readable Error naming the service otherwise.
 */
export async function expectAlive(service: ServiceProcess): Promise<void> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) {
    throw new Error(`${service.name} exited (${service.child.exitCode ?? service.child.signalCode}):\n${service.output().slice(-2_000)}`);
  }
  const status = await checkHealth(service.target, '', 10_000);
  if (status !== 'SERVING') throw new Error(`${service.name} health is ${status}`);
  const crashes = crashLines(service.output());
  if (crashes.length > 0) throw new Error(`${service.name} logged:\n${crashes.slice(0, 5).join('\n')}`);
}

/**
 * Lines of a service's output that show a crash or a swallowed failure: pino error/fatal lines but the
 * logging interceptor's per-call line (unless its code is UNKNOWN), and Node's non-JSON crash reports.
 * Which lines and why: docs/reliability.md "Hostile input".
 */
export function crashLines(output: string): string[] {
  const found: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.trim()) continue;
    let entry: { level?: unknown; msg?: unknown; 'grpc.code'?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      if (/unhandled|uncaught/i.test(line)) found.push(line);
      continue;
    }
    const severe = entry.level === 'error' || entry.level === 'fatal';
    if ((severe && entry.msg !== 'finished call') || entry['grpc.code'] === 'UNKNOWN') found.push(line);
  }
  return found;
}
