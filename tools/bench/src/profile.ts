/**
 * Where auth's CPU time goes under the unary load: one extra h2load run (not one of the
 * measured rounds) with V8's sampling profiler on in auth (profile-preload.ts), then every
 * sample attributed to a component by the script URL of its frame, or of its nearest caller
 * with a known URL (so Node internals and native code count for whoever called them: HTTP/2
 * writes for grpc-js, a pipe write for pino).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { round, sleep } from './measure.js';
import type { SummaryRow } from './results.js';
import type { BenchUser, Stack } from './stack.js';
import { GET_USER_PATH, h2load, unaryRequestFile, type H2loadSettings } from './unary.js';

/** Components, first matching URL fragment wins (order matters: interceptor files before "libs/interceptors"). */
const COMPONENTS: Array<[string, string[]]> = [
  ['PGlite (embedded PostgreSQL, WASM): the GetUser lookup', ['@electric-sql/pglite', 'wasm://']],
  ['JWT verification (jose, ES256)', ['/jose/', 'interceptors/dist/auth.js']],
  ['tracing (OpenTelemetry, batching OTLP exporter)', ['@opentelemetry', 'interceptors/dist/tracing.js']],
  ['logging (pino, info)', ['/pino', 'sonic-boom', 'interceptors/dist/logging.js']],
  ['metrics (prom-client)', ['prom-client', 'interceptors/dist/server-metrics.js']],
  ['rate limit (rate-limiter-flexible, ioredis)', ['rate-limiter-flexible', 'ioredis', 'interceptors/dist/rate-limit']],
  ['outgoing calls (grpc-kit client, propagation)', ['grpc-kit/dist/client', 'interceptors/dist/client-']],
  ['other interceptors (recovery, request id, deadline, authz, validation, call context)', ['libs/interceptors/']],
  ['grpc-js and HTTP/2', ['@grpc/grpc-js', 'node:internal/http2']],
  ['protobuf encoding', ['protobufjs', 'libs/proto/', '@bufbuild']],
  ['auth handler', ['apps/auth/']],
  ['parquet decoding (hyparquet)', ['hyparquet']],
  ['analytics handler (rows to messages, backpressure)', ['apps/analytics/']],
  ['PostgreSQL client (pg)', ['/pg/', 'pg-protocol', 'pg-pool']],
  ['orders handler and store', ['apps/orders/']],
];

/** CPU share per component, of the non-idle samples. */
export interface ProfileShare {
  component: string;
  percent: number;
}

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
}

/** Attributes a .cpuprofile's samples to {@link COMPONENTS}; garbage collection and the rest are their own lines. */
export function attribute(profile: CpuProfile): ProfileShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const componentOf = (id: number): string => {
    const name = byId.get(id)?.callFrame.functionName;
    if (name === '(garbage collector)') return 'garbage collection';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? '';
      const match = COMPONENTS.find(([, fragments]) => fragments.some((f) => url.includes(f)));
      if (match) return match[0];
    }
    return 'other (Node internals, timers, promises)';
  };
  const counts = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    busy++;
    const component = componentOf(id);
    counts.set(component, (counts.get(component) ?? 0) + 1);
  }
  return [...counts.entries()].map(([component, n]) => ({ component, percent: round((100 * n) / busy, 1) })).sort((a, b) => b.percent - a.percent);
}

/** Options of {@link profileScenario}. */
export interface ProfileOptions {
  stack: Stack;
  user: BenchUser;
  settings: H2loadSettings;
  pinning: boolean;
  log: (line: string) => void;
}

/**
 * Restarts auth (same data directory: same keys and users) with the profiler preloaded, runs
 * one h2load run with the profiler on, and returns the shares. Auth is left running without the
 * profiler afterwards.
 */
export async function profileScenario(options: ProfileOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const { stack } = options;
  const file = join(stack.scratchDir, 'auth.cpuprofile');
  await stack.restartAuth({ NODE_OPTIONS: `--require ${join(__dirname, '..', 'dist', 'profile-preload.js')}`, BENCH_PROFILE_FILE: file });
  const requestFile = await unaryRequestFile(stack, options.user);
  const url = `http://${stack.auth.process.target.replace(/^ipv4:/, '')}${GET_USER_PATH}`;
  const headers = [`authorization: Bearer ${options.user.token}`];
  process.kill(stack.auth.pid, 'SIGUSR2');
  const result = await h2load(url, requestFile, headers, { ...options.settings, warmUpS: 1 }, options.pinning);
  process.kill(stack.auth.pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100);
  const shares = attribute(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  rmSync(file, { force: true });
  await stack.restartAuth({});
  options.log(`  auth CPU under load (${result.requestsPerSecond.toFixed(0)} req/s with the profiler on): ${shares.map((s) => `${s.component.split(' (')[0].split(':')[0]} ${s.percent}%`).join(', ')}`);
  // Not summary rows: the shares explain the unary ratio, they are not a measurement against bare.
  return { rows: [], data: { requestsPerSecondWithProfiler: result.requestsPerSecond, shares } };
}
