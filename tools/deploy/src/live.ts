/**
 * The live set-up of the PromQL checks and the dashboard image: the five services started as
 * the `npm start` runner (tools/stack) starts them, a real Prometheus
 * (/usr/bin/prometheus) scraping them with deploy/prometheus/prometheus.yml re-targeted at their
 * ports (1 s interval, alert rules loaded), and the tour (`node apps/cli/dist/main.js tour`) as
 * the traffic.
 */
import { freePort, repoRoot, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROMETHEUS } from './binaries.js';
import { loadPrometheusConfig, localPrometheusConfig, SERVICES_JOB } from './prometheus.js';
import { targetVariable } from '@grpc-patterns/manifest';
import { DEPLOY_SERVICES } from './services.js';

/** A child process with its output kept. */
interface Child {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (c: Buffer) => {
    output += c.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return { child, output: () => output, exited };
}

/**
 * Polls `condition` every `everyMs` until it returns a value (not undefined) or `timeoutMs`
 * passes; an error it throws is remembered and polling goes on, but `fatal` returning an error
 * ends the wait at once with it (e.g. the process being waited for exited).
 */
export async function waitFor<T>(what: string, condition: () => Promise<T | undefined>, timeoutMs: number, fatal: () => Error | undefined = () => undefined, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const stop = fatal();
    if (stop) throw stop;
    try {
      const value = await condition();
      if (value !== undefined) return value;
    } catch (error) {
      last = ` (last error: ${(error as Error).message})`;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
}

/** The stack as `npm start` runs it. */
export interface LiveStack {
  services: ServiceProcess[];
  /** `AUTH_TARGET` ... `ORDERS_TARGET` for the CLI: `ipv4:127.0.0.1:<port>`. */
  targetEnv: Record<string, string>;
  /** Metrics port per service. */
  metricsPorts: Map<string, number>;
  /** SIGTERM to every service (graceful drain); resolves with their exit codes. */
  stop(): Promise<Array<number | null>>;
}

/**
 * Starts the five built services as the `npm start` runner does (spawnService, free ports, a DATA_DIR each under
 * `dataDir`, static `ipv4:` targets), waiting `readyTimeoutMs` for SERVING (docs/deploy.md "Dashboard and alerts").
 * @throws Error naming every service that did not become SERVING (with its output), after stopping the others.
 */
export async function startStack(dataDir: string, readyTimeoutMs = 240_000): Promise<LiveStack> {
  const ports = new Map<string, { grpc: number; metrics: number }>();
  for (const s of DEPLOY_SERVICES) ports.set(s.name, { grpc: await freePort(), metrics: await freePort() });
  const targetEnv = Object.fromEntries(DEPLOY_SERVICES.map((s) => [targetVariable(s.name), `ipv4:127.0.0.1:${ports.get(s.name)?.grpc}`]));
  const results = await Promise.allSettled(
    DEPLOY_SERVICES.map((s) =>
      spawnService({
        name: s.name,
        port: ports.get(s.name)?.grpc,
        env: { ...targetEnv, METRICS_PORT: String(ports.get(s.name)?.metrics), DATA_DIR: join(dataDir, s.name) },
        healthService: s.fullName,
        readyTimeoutMs,
      }),
    ),
  );
  const services = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = () => Promise.all(services.map((p) => p.stop('SIGTERM')));
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${DEPLOY_SERVICES[i].name}: ${(r.reason as Error).message}`] : []));
  if (failures.length > 0) {
    await stop();
    throw new Error(`the stack did not start:\n${failures.join('\n')}`);
  }
  return { services, targetEnv, metricsPorts: new Map([...ports].map(([name, p]) => [name, p.metrics])), stop };
}

/** Runs the tour against `targetEnv`; resolves with its exit code and output. */
export async function runTour(targetEnv: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const tour = start(process.execPath, [join(repoRoot, 'apps', 'cli', 'dist', 'main.js'), 'tour'], { ...process.env, ...targetEnv });
  const code = await tour.exited;
  return { code, output: tour.output() };
}

/** One series of an instant query: labels and the value (NaN and ±Inf included, as Prometheus sends them). */
export interface InstantSample {
  metric: Record<string, string>;
  value: number;
}

/** One series of a range query: labels and [unix seconds, value] points. */
export interface RangeSeries {
  metric: Record<string, string>;
  points: Array<[number, number]>;
}

/** A running Prometheus and its HTTP API. */
export interface LivePrometheus {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** GET /api/v1/query at `time` (unix s; default now). @throws Error with Prometheus' error (bad PromQL). */
  query(expr: string, time?: number): Promise<InstantSample[]>;
  /** GET /api/v1/query_range. @throws Error with Prometheus' error. */
  queryRange(expr: string, start: number, end: number, stepS: number): Promise<RangeSeries[]>;
  output(): string;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`${body.errorType ?? 'error'}: ${body.error ?? response.status}`);
  return body.data;
}

/**
 * Starts /usr/bin/prometheus on a free port with a temporary TSDB and deploy/prometheus re-targeted at `metricsPorts`
 * ({@link localPrometheusConfig}); waits until it is ready and has scraped every service once.
 * @throws Error with Prometheus' output when it exits or is not ready within `timeoutMs`.
 */
export async function startPrometheus(metricsPorts: Map<string, number>, intervalS = 1, timeoutMs = 120_000): Promise<LivePrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'grpc-patterns-prometheus-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  writeFileSync(join(dir, 'prometheus.yml'), localPrometheusConfig(loadPrometheusConfig(), metricsPorts, address, intervalS));
  const prometheus = start(PROMETHEUS.path, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=${address}`,
    '--log.level=warn',
  ]);
  const url = `http://${address}`;
  const stop = async () => {
    if (prometheus.child.exitCode === null && prometheus.child.signalCode === null) prometheus.child.kill('SIGTERM');
    await prometheus.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const live: LivePrometheus = {
    url,
    output: prometheus.output,
    async query(expr, time) {
      const params = new URLSearchParams({ query: expr, ...(time === undefined ? {} : { time: String(time) }) });
      const data = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`${url}/api/v1/query?${params}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async queryRange(expr, startS, endS, stepS) {
      const params = new URLSearchParams({ query: expr, start: String(startS), end: String(endS), step: String(stepS) });
      const data = await api<{ result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }>(`${url}/api/v1/query_range?${params}`);
      return data.result.map((r) => ({ metric: r.metric, points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]) }));
    },
    stop,
  };
  let exitCode: number | null | undefined;
  void prometheus.exited.then((code) => (exitCode = code));
  try {
    await waitFor(
      `every ${SERVICES_JOB} target up in Prometheus`,
      async () => {
        // Each scraped successfully at least once (one may miss a 1 s scrape on a busy machine).
        const up = await live.query(`max_over_time(up{job="${SERVICES_JOB}"}[1m]) == 1`);
        return up.length === metricsPorts.size ? true : undefined;
      },
      timeoutMs,
      () => (exitCode === undefined ? undefined : new Error(`prometheus exited with ${exitCode}`)),
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${prometheus.output()}`);
  }
  return live;
}

/**
 * Waits until Prometheus has scraped every service successfully after `afterMs` (epoch ms),
 * twice: each latest `up == 1` sample is later, so the counters include everything before it.
 */
export async function waitForScrapesAfter(prometheus: LivePrometheus, afterMs: number, services: number, timeoutMs = 60_000): Promise<void> {
  await waitForOneScrapeAfter(prometheus, afterMs, services, timeoutMs);
  // And one more: a series whose first sample is the scrape right after the traffic (every scrape
  // during it failed, as happens on a loaded machine with 1 s timeouts) then has the two samples
  // rate() needs.
  await waitForOneScrapeAfter(prometheus, Date.now(), services, timeoutMs);
}

async function waitForOneScrapeAfter(prometheus: LivePrometheus, afterMs: number, services: number, timeoutMs: number): Promise<void> {
  await waitFor(
    'a scrape of every service after the traffic',
    async () => {
      // Only a successful scrape counts (a failed one brings no new counter values). timestamp()
      // must take the selector itself: applied to `up == 1` it returns the evaluation time.
      const stamps = await prometheus.query(`timestamp(up{job="${SERVICES_JOB}"}) and up{job="${SERVICES_JOB}"} == 1`);
      return stamps.length === services && stamps.every((s) => s.value * 1000 > afterMs) ? true : undefined;
    },
    timeoutMs,
  );
}

/** The whole live set-up, started in order and stopped in reverse. */
export interface LiveSetup {
  stack: LiveStack;
  prometheus: LivePrometheus;
  stop(): Promise<void>;
}

/** Starts the stack (data under a temp dir) and Prometheus scraping it. */
export async function startLiveSetup(): Promise<LiveSetup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'grpc-patterns-live-'));
  const stack = await startStack(dataDir);
  let prometheus: LivePrometheus;
  try {
    prometheus = await startPrometheus(stack.metricsPorts);
  } catch (error) {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    stack,
    prometheus,
    async stop() {
      await prometheus.stop();
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
