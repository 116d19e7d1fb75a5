#!/usr/bin/env node
/**
 * `npm run bench`: what each pattern costs, measured side by side in one run against bare
 * grpc-js, as ratios. Writes `docs/bench/results.json`, the plots (`docs/bench/*.png`, by
 * `tools/bench/plot.py` with matplotlib) and `docs/benchmarks.md`. `--quick` is a shorter run,
 * `--smoke` a seconds-long one (what the jest smoke test runs, into a temporary directory).
 *
 * Servers run on core 0, the load (this process and h2load) on core 1 (taskset), when the
 * machine has two cores or more.
 */
import { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { closeAllChannels, createClient } from '@grpc-patterns/grpc-kit';
import { analyticsV1 } from '@grpc-patterns/proto';
import { repoRoot } from '@grpc-patterns/testing';
import { bidiScenario } from './bidi.js';
import { chainScenario, type ChainSettings } from './chain.js';
import { channelScenario } from './channels.js';
import { clientStreamingScenario } from './client-streaming.js';
import { canPin, pin } from './measure.js';
import { ordersNotMeasured, ordersScenario } from './orders.js';
import { profileScenario } from './profile.js';
import { profileWhile } from './profile-service.js';
import { renderReport } from './report.js';
import type { BenchResults, SummaryRow } from './results.js';
import { fastStream, serverStreamingScenario } from './server-streaming.js';
import { BENCH_AUTH_RATE_LIMIT, bearer, LOAD_CORE, Stack } from './stack.js';
import { unaryScenario } from './unary.js';

/** Sizes of one run. */
export interface BenchSizes {
  users: number;
  unary: { durationS: number; warmUpS: number; clients: number; streams: number; rounds: number };
  stream: { rows: number; chunkSize: number; rounds: number; slowSeconds: number };
  upload: { points: number; series: number; rounds: number };
  bidi: { idleStreams: number; streamsPerChannel: number; roomMembers: number; messages: number; messageIntervalMs: number };
  orders: { seconds: number; concurrency: number; replays: number };
  channels: { calls: number };
  chain: ChainSettings;
}

/** The three sizes: the full run (about 5-10 min on 2 cores), a quick one, and the smoke test's. */
export const SIZES: Record<'full' | 'quick' | 'smoke', BenchSizes> = {
  full: {
    users: 10,
    unary: { durationS: 10, warmUpS: 2, clients: 4, streams: 25, rounds: 3 },
    stream: { rows: 200_000, chunkSize: 1_000, rounds: 3, slowSeconds: 30 },
    upload: { points: 100_000, series: 10, rounds: 3 },
    bidi: { idleStreams: 10_000, streamsPerChannel: 90, roomMembers: 100, messages: 200, messageIntervalMs: 20 },
    orders: { seconds: 10, concurrency: 16, replays: 200 },
    channels: { calls: 500 },
    chain: { durationS: 5, warmUpS: 1, clients: 4, streams: 25, rounds: 3, streamMessages: 50_000 },
  },
  quick: {
    users: 10,
    unary: { durationS: 4, warmUpS: 1, clients: 4, streams: 25, rounds: 1 },
    stream: { rows: 50_000, chunkSize: 1_000, rounds: 1, slowSeconds: 10 },
    upload: { points: 50_000, series: 10, rounds: 1 },
    bidi: { idleStreams: 2_000, streamsPerChannel: 90, roomMembers: 100, messages: 50, messageIntervalMs: 20 },
    orders: { seconds: 3, concurrency: 16, replays: 50 },
    channels: { calls: 100 },
    chain: { durationS: 2, warmUpS: 1, clients: 4, streams: 25, rounds: 3, streamMessages: 20_000 },
  },
  smoke: {
    users: 4,
    unary: { durationS: 1, warmUpS: 1, clients: 1, streams: 4, rounds: 1 },
    stream: { rows: 2_000, chunkSize: 500, rounds: 1, slowSeconds: 2 },
    upload: { points: 2_000, series: 4, rounds: 1 },
    bidi: { idleStreams: 100, streamsPerChannel: 50, roomMembers: 10, messages: 5, messageIntervalMs: 20 },
    orders: { seconds: 1, concurrency: 4, replays: 5 },
    channels: { calls: 20 },
    chain: { durationS: 1, warmUpS: 0, clients: 1, streams: 4, rounds: 1, streamMessages: 200 },
  },
};

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  mode: 'full' | 'quick' | 'smoke';
  /** Where results.json and the PNGs go. */
  outDir: string;
  /** Where the Markdown report goes. */
  reportPath: string;
  plots: boolean;
  /** `REDIS_URL`: the services keep their rate limits in Redis; unset, in memory (the default). */
  redisUrl?: string;
  /** `DATABASE_URL`: orders also on PostgreSQL. */
  databaseUrl?: string;
  log: (line: string) => void;
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'not installed';
  }
}

/**
 * Runs every scenario in order and writes the results; resolves with them.
 *
 * @throws Error when a scenario fails (a server counted a call as failed, a stream ended
 *   early, ...): a benchmark that did not do what it says is not reported.
 */
export async function runBench(options: RunBenchOptions): Promise<BenchResults> {
  const sizes = SIZES[options.mode];
  const { log } = options;
  const pinning = canPin(cpus().length);
  pin(process.pid, LOAD_CORE, pinning);
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
  const summary: SummaryRow[] = [];
  const scenarios: Record<string, unknown> = {};
  // A scenario's service profiled over one more run of its load (profile-service.ts): no summary rows.
  const profiled = (name: string, env: Record<string, string>, load: Parameters<typeof profileWhile>[3]) => async () => {
    const profile = await profileWhile(stack, name, env, load);
    log(`  ${name}: ${profile.busyPercent}% of a core busy (auth ${profile.authBusyPercent}%); ${profile.shares.slice(0, 4).map((s) => `${s.component.split(' (')[0]} ${s.percent}%`).join(', ')}`);
    return { rows: [] as SummaryRow[], data: { ...profile } };
  };
  const step = async (name: string, body: () => Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }>) => {
    const started = Date.now();
    log(`[${new Date().toISOString().slice(11, 19)}] ${name}`);
    const { rows, data } = await body();
    summary.push(...rows);
    scenarios[name] = data;
    log(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };

  log(`bench (${options.mode}): servers on core 0, load on core ${LOAD_CORE}${pinning ? '' : ' (NOT pinned: taskset missing or one core)'}; load average ${loadAverageAtStart.join(' ')}`);
  const stack = await Stack.start({ pinning, redisUrl: options.redisUrl, log });
  // Ctrl-C stops the services this run started instead of leaving them running.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the services`);
    void stack.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log(`registering ${sizes.users} bench users`);
    const users = await stack.users('bench', sizes.users);
    // First, before any service but auth (idle) runs: only the chain process takes load.
    await step('chain', () => chainScenario({ stack, settings: sizes.chain, pinning, log }));
    await step('unary', () => unaryScenario({ stack, user: users[0], settings: sizes.unary, rounds: sizes.unary.rounds, pinning, log }));
    const analytics = await stack.service('analytics');
    await step('server streaming', () => serverStreamingScenario({ stack, analytics, user: users[0], ...sizes.stream, slowRowsPerSecond: 100, log }));
    await stack.stopService(analytics);
    await step('server streaming profile', profiled('analytics', {}, ({ process: p }) => fastStream(createClient(analyticsV1.AnalyticsServiceClient, p.target), bearer(users[0]), sizes.stream.rows, sizes.stream.chunkSize)));
    const metrics = await stack.service('metrics');
    await step('client streaming', () => clientStreamingScenario({ stack, metrics, user: users[0], ...sizes.upload, log }));
    await stack.stopService(metrics);
    // Fan-out rooms have more members than there are bench users (tokens): members are named
    // by JoinRoom.user, which only CHAT_IDENTITY=name allows (the default, token, is per user).
    const chat = await stack.service('chat', { CHAT_IDENTITY: 'name' });
    await step('bidi', () => bidiScenario({ stack, chat, users, ...sizes.bidi, log }));
    await stack.stopService(chat);
    const pglite = await stack.service('orders');
    await step('orders (PGlite)', () => ordersScenario({ orders: pglite, store: 'PGlite', users, ...sizes.orders, log }));
    await stack.stopService(pglite);
    if (options.databaseUrl) {
      const postgres = await stack.service('orders', { DATABASE_URL: options.databaseUrl });
      await step('orders (PostgreSQL)', () => ordersScenario({ orders: postgres, store: 'PostgreSQL', users, ...sizes.orders, log }));
      await stack.stopService(postgres);
      await step('orders profile', profiled('orders', { DATABASE_URL: options.databaseUrl ?? '' }, (orders) => ordersScenario({ orders, store: 'PostgreSQL', users, ...sizes.orders, replays: 1, log: () => undefined })));
    } else {
      summary.push(...ordersNotMeasured('PostgreSQL', 'DATABASE_URL not set'));
    }
    await step('unary profile', () => profileScenario({ stack, user: users[0], settings: sizes.unary, pinning, log }));
    await step('channel reuse', () => channelScenario({ stack, ...sizes.channels, log }));
    scenarios.tracing = { exportRequests: stack.sink.requests, exportedBytes: stack.sink.bytes };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await stack.close();
    closeAllChannels();
  }

  const results: BenchResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    mode: options.mode,
    machine: {
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      cores: cpus().length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${type()} ${release()}`,
      node: process.version,
      grpcJs: (require('@grpc/grpc-js/package.json') as { version: string }).version,
      h2load: version('h2load', ['--version']),
      pinned: pinning,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    commands: [
      `${options.redisUrl ? `REDIS_URL=${options.redisUrl} ` : ''}${options.databaseUrl ? 'DATABASE_URL=postgres://… ' : ''}npm run bench${options.mode === 'full' ? '' : ` -- --${options.mode}`}`,
      `taskset -c ${LOAD_CORE} h2load -D ${sizes.unary.durationS} --warm-up-time ${sizes.unary.warmUpS} -c ${sizes.unary.clients} -m ${sizes.unary.streams} -t 1 -d get-user.grpc --log-file requests.log -H 'content-type: application/grpc' -H 'te: trailers' -H 'authorization: Bearer <token>' http://127.0.0.1:<auth port>/auth.v1.AuthService/GetUser`,
      `taskset -a -p -c 0 <pid of each server>`,
    ],
    settings: { ...sizes, redis: Boolean(options.redisUrl), postgres: Boolean(options.databaseUrl), authRateLimit: BENCH_AUTH_RATE_LIMIT },
    summary,
    scenarios,
  };
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(join(options.outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeOutputs(results, options);
  return results;
}

/**
 * `--only chain`: the chain scenario alone (a stack with auth only), its lines logged and
 * nothing written (a partial run must not replace results.json or the report).
 */
export async function runChainOnly(mode: RunBenchOptions['mode'], log: (line: string) => void): Promise<void> {
  const pinning = canPin(cpus().length);
  pin(process.pid, LOAD_CORE, pinning);
  log(`bench (${mode}, chain only): load average ${loadavg().map((l) => Math.round(l * 100) / 100).join(' ')}`);
  const stack = await Stack.start({ pinning, log });
  try {
    const { data } = await chainScenario({ stack, settings: SIZES[mode].chain, pinning, log });
    for (const row of data.table as Array<{ server: string; ratio: number | null; cpuUsPerCall: number; addedUsPerCall: number | null }>) {
      log(`  ${row.server.padEnd(18)} ratio ${row.ratio ?? '-'}  CPU ${row.cpuUsPerCall} µs/call  added ${row.addedUsPerCall ?? '-'}`);
    }
    log(`  load average at end ${loadavg().map((l) => Math.round(l * 100) / 100).join(' ')}`);
  } finally {
    await stack.close();
    closeAllChannels();
  }
}

/** Draws the plots (matplotlib, tools/bench/plot.py) next to results.json and writes the Markdown report. */
function writeOutputs(results: BenchResults, options: Pick<RunBenchOptions, 'outDir' | 'reportPath' | 'plots' | 'log'>): void {
  const plots: string[] = [];
  if (options.plots) {
    options.log('plotting');
    const out = execFileSync('/usr/bin/python3', [join(__dirname, '..', 'plot.py'), join(options.outDir, 'results.json'), options.outDir], { encoding: 'utf8' });
    plots.push(...out.split('\n').filter((line) => line.endsWith('.png')));
  }
  writeFileSync(options.reportPath, renderReport(results, plots, options.reportPath, options.outDir));
  options.log(`wrote ${join(options.outDir, 'results.json')}, ${plots.length} plots and ${options.reportPath}`);
}

async function main(): Promise<void> {
  const program = new Command('bench')
    .description('Throughput, latency and memory of each pattern against bare grpc-js, as ratios from one run.')
    .option('--quick', 'a shorter run (about 2 min)')
    .option('--smoke', 'a seconds-long run with tiny sizes (what npm test runs)')
    .option('--out <dir>', 'directory for results.json and the PNGs', join(repoRoot, 'docs', 'bench'))
    .option('--report <file>', 'the Markdown report', join(repoRoot, 'docs', 'benchmarks.md'))
    .option('--no-plots', 'skip the matplotlib plots')
    .option('--only <scenario>', 'run one scenario alone and write nothing (chain)')
    .option('--render-only', 'measure nothing: redraw the plots and the report from <out>/results.json')
    .parse();
  const opts = program.opts<{ quick?: boolean; smoke?: boolean; out: string; report: string; plots: boolean; renderOnly?: boolean; only?: string }>();
  const log = (line: string) => console.log(line);
  const mode = opts.smoke ? 'smoke' : opts.quick ? 'quick' : 'full';
  if (opts.only !== undefined) {
    if (opts.only !== 'chain') throw new Error(`--only: unknown scenario ${opts.only} (known: chain)`);
    return runChainOnly(mode, log);
  }
  if (opts.renderOnly) {
    const results = JSON.parse(readFileSync(join(opts.out, 'results.json'), 'utf8')) as BenchResults;
    return writeOutputs(results, { outDir: opts.out, reportPath: opts.report, plots: opts.plots, log });
  }
  await runBench({
    mode,
    outDir: opts.out,
    reportPath: opts.report,
    plots: opts.plots,
    redisUrl: process.env.REDIS_URL || undefined,
    databaseUrl: process.env.DATABASE_URL || undefined,
    log,
  });
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`bench: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
