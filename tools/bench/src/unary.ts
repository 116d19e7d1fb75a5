/**
 * Unary: h2load against auth.GetUser through the full interceptor chain, and against the bare
 * grpc-js server answering the same GetUserResponse, alternating, same payload, same h2load
 * settings. h2load counts any HTTP 200 as success, so every run is checked against the
 * servers' own counters: auth's grpc_server_handled_total (go-grpc-prometheus names) must show
 * no call ending other than OK, and at least as many OK calls as h2load saw succeed.
 */
import { createClient, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alternate, counterSum, fetchMetrics, median, quantile, round, sleep } from './measure.js';
import { pairedRatio, ratioTarget, type SummaryRow } from './results.js';
import { BENCH_AUTH_RATE_LIMIT, bearer, LOAD_CORE, type BenchUser, type Stack } from './stack.js';

const run = promisify(execFile);

/** The method measured. */
export const GET_USER_PATH = '/auth.v1.AuthService/GetUser';

/** h2load settings of one run. */
export interface H2loadSettings {
  /** Measured seconds (-D). */
  durationS: number;
  /** Warm-up seconds before them (--warm-up-time). */
  warmUpS: number;
  /** Connections (-c). */
  clients: number;
  /** Concurrent streams per connection (-m). */
  streams: number;
}

/** What one h2load run gave. */
export interface H2loadRun {
  target: 'chain' | 'bare';
  requestsPerSecond: number;
  succeeded: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  /** Server-side count of GetUser calls that ended OK during the run (warm-up included). */
  serverOk: number;
  /** Server-side count of GetUser calls that ended CANCELLED: h2load resets the streams in flight when its time is up. */
  serverCancelled: number;
  /** Server-side count of GetUser calls that ended with any other code. */
  serverNotOk: number;
}

/** A request body as gRPC frames it: 1 byte compressed flag (0), 4 bytes length (big-endian), message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(frame, 5);
  return frame;
}

/**
 * Runs h2load once (pinned to the load core) and reads req/s from its summary and p50/p99 from
 * its --log-file (per-request microseconds; requests started during the warm-up left out).
 */
export async function h2load(url: string, dataFile: string, headers: string[], settings: H2loadSettings, pinning: boolean): Promise<Omit<H2loadRun, 'target' | 'serverOk' | 'serverNotOk' | 'serverCancelled'>> {
  const dir = mkdtempSync(join(tmpdir(), 'h2load-'));
  const logFile = join(dir, 'requests.log');
  const args = [
    '-D', String(settings.durationS), '--warm-up-time', String(settings.warmUpS),
    '-c', String(settings.clients), '-m', String(settings.streams), '-t', '1',
    '-d', dataFile, '--log-file', logFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    ...headers.flatMap((h) => ['-H', h]),
    url,
  ];
  const startedUs = Date.now() * 1000;
  try {
    const { stdout } = pinning ? await run('taskset', ['-c', String(LOAD_CORE), 'h2load', ...args]) : await run('h2load', args);
    const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout);
    const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
    if (!rps || !counts) throw new Error(`h2load: unexpected output:\n${stdout}`);
    const measuredFromUs = startedUs + settings.warmUpS * 1e6;
    const latencies: number[] = [];
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const [start, code, micros] = line.split('\t');
      if (code === '200' && Number(start) >= measuredFromUs) latencies.push(Number(micros) / 1000);
    }
    return { requestsPerSecond: Number(rps[1]), succeeded: Number(counts[1]), failed: Number(counts[2]), p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Fetches the bench user through auth once, gives the bare server the same GetUserResponse, and
 * writes h2load's request file (a framed GetUserRequest for the user) into the stack's scratch
 * directory. Returns its path.
 */
export async function unaryRequestFile(stack: Stack, user: BenchUser): Promise<string> {
  const client = createClient(authV1.AuthServiceClient, stack.auth.process.target);
  const request = authV1.GetUserRequest.fromPartial({ userId: user.id });
  const response = await unaryCall(client.getUser.bind(client), request, { metadata: bearer(user) });
  await stack.bare.command({ type: 'setUser', response: Buffer.from(authV1.GetUserResponse.encode(response).finish()).toString('base64') });
  const file = join(stack.scratchDir, 'get-user.grpc');
  writeFileSync(file, grpcFrame(authV1.GetUserRequest.encode(request).finish()));
  return file;
}

/** Options of {@link unaryScenario}. */
export interface UnaryOptions {
  stack: Stack;
  user: BenchUser;
  settings: H2loadSettings;
  rounds: number;
  pinning: boolean;
  log: (line: string) => void;
}

/** Runs the unary scenario; returns the raw runs and the summary rows. */
export async function unaryScenario(options: UnaryOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const { stack, user, settings } = options;
  const dataFile = await unaryRequestFile(stack, user);
  const runs: H2loadRun[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const target of alternate<'chain' | 'bare'>(round, 'bare', 'chain')) {
      const address = (target === 'chain' ? stack.auth.process.target : stack.bare.target).replace(/^ipv4:/, '');
      const counters = target === 'chain' ? () => serverCounts(stack.auth.metricsUrl) : async () => ({ ok: await bareOk(stack), cancelled: 0, notOk: 0 });
      const before = await counters();
      const result = await h2load(`http://${address}${GET_USER_PATH}`, dataFile, target === 'chain' ? [`authorization: Bearer ${user.token}`] : [], settings, options.pinning);
      const after = await counters();
      const entry: H2loadRun = { target, ...result, serverOk: after.ok - before.ok, serverCancelled: after.cancelled - before.cancelled, serverNotOk: after.notOk - before.notOk };
      runs.push(entry);
      options.log(`  unary ${target.padEnd(5)} round ${round + 1}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, server OK ${entry.serverOk}, cancelled at the end ${entry.serverCancelled}, other ${entry.serverNotOk}`);
      const inFlight = settings.clients * settings.streams;
      if (entry.serverNotOk > 0 || entry.serverCancelled > inFlight || entry.serverOk < result.succeeded) {
        throw new Error(`unary ${target}: h2load counted ${result.succeeded} successes; the server ended ${entry.serverOk} calls OK, ${entry.serverCancelled} CANCELLED (at most ${inFlight} in flight) and ${entry.serverNotOk} with another code`);
      }
    }
  }
  type Key = 'requestsPerSecond' | 'p50Ms' | 'p99Ms';
  const of = (target: 'chain' | 'bare', key: Key) => runs.filter((r) => r.target === target).map((r) => r[key]);
  const med = (target: 'chain' | 'bare', key: Key) => (of(target, key).length ? median(of(target, key)) : null);
  const paired = (key: Key) => pairedRatio(of('chain', key), of('bare', key));
  const chainRps = med('chain', 'requestsPerSecond');
  const bareRps = med('bare', 'requestsPerSecond');
  const ratio = paired('requestsPerSecond');
  const rows: SummaryRow[] = [
    { scenario: 'unary', metric: 'GetUser req/s (h2load)', unit: 'req/s', value: chainRps, baseline: bareRps, ratio, target: ratioTarget(ratio, 0.85) },
    { scenario: 'unary', metric: 'GetUser latency p50', unit: 'ms', value: med('chain', 'p50Ms'), baseline: med('bare', 'p50Ms'), ratio: paired('p50Ms') },
    { scenario: 'unary', metric: 'GetUser latency p99', unit: 'ms', value: med('chain', 'p99Ms'), baseline: med('bare', 'p99Ms'), ratio: paired('p99Ms') },
  ];
  for (const row of rows) {
    for (const key of ['value', 'baseline', 'ratio'] as const) if (typeof row[key] === 'number') row[key] = round(row[key] as number);
  }
  return { rows, data: { settings, requestBytes: readFileSync(dataFile).length - 5, rateLimit: { store: stack.options.redisUrl ? 'redis' : 'memory', ...BENCH_AUTH_RATE_LIMIT }, runs } };
}

/**
 * GetUser's handled counts from one scrape of auth's /metrics, once they stop moving (the calls
 * h2load left in flight finish after it exits): scraped every 200 ms until two agree, at most 5 s.
 */
async function serverCounts(metricsUrl: string): Promise<{ ok: number; cancelled: number; notOk: number }> {
  const labels = { grpc_service: 'auth.v1.AuthService', grpc_method: 'GetUser' };
  const read = async () => {
    const text = await fetchMetrics(metricsUrl);
    const all = counterSum(text, 'grpc_server_handled_total', labels);
    const ok = counterSum(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' });
    const cancelled = counterSum(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'CANCELLED' });
    return { ok, cancelled, notOk: all - ok - cancelled };
  };
  let last = await read();
  for (let i = 0; i < 25; i++) {
    await sleep(200);
    const now = await read();
    if (now.ok === last.ok && now.cancelled === last.cancelled && now.notOk === last.notOk) return now;
    last = now;
  }
  return last;
}

async function bareOk(stack: Stack): Promise<number> {
  const reply = await stack.bare.command({ type: 'stats' });
  return reply.type === 'stats' ? reply.ok : 0;
}
