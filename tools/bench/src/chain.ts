/**
 * Chain: what each server interceptor costs. One process (chain-server.ts, on the server core)
 * serves a trivial GetUser (a fixed message from memory) and a trivial StreamFlights behind a
 * bare grpc.Server, startServer() without interceptors, and startServer() with each prefix of
 * the real chain (`serverInterceptorLayers()`), the last one the full chain. Every round runs
 * h2load (same token, same settings) against each of them in turn, forwards on even rounds and
 * backwards on odd ones, then reads one StreamFlights stream from each.
 *
 * Per server and round: req/s (h2load) and the server process' CPU time per call (µs,
 * process.cpuUsage() from the end of h2load's warm-up to its end, over the calls that reached
 * the handler in that time); a layer's cost
 * is its row's CPU per call minus the row before (successive differences, median over rounds).
 * The same for stream messages: CPU per message of one stream of `streamMessages` messages.
 * h2load counts any HTTP 200 as success (gRPC errors included), so every run is checked against
 * the handler's own count: at least as many calls reached it as h2load saw succeed.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1 } from '@grpc-patterns/proto';
import { fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { byRound, chainTable, lastLayerRow, PASS_THROUGH_ROW, SAMPLED_ROW, type ChainRow, type ChainRun } from './chain-rows.js';
import type { ChainCommand, ChainReply } from './chain-server.js';
import type { Floor } from './floors.js';
import { nowMs, pin, round, roundOrNull, sleep } from './measure.js';
import { attribute, type ProfileShare } from './profile.js';
import { pairedRatio, ratioTarget, type SummaryRow } from './results.js';
import { SERVER_CORE, type Stack } from './stack.js';
import { grpcFrame, GET_USER_PATH, h2load, type H2loadSettings } from './unary.js';

/** Sizes of the chain scenario. */
export interface ChainSettings extends H2loadSettings {
  rounds: number;
  /** Messages of the one StreamFlights stream read from each server per round. */
  streamMessages: number;
}

/** Tracing's cheap path as a deployment sets it: 1% of root calls traced, callers' decisions followed. */
export const SAMPLED_ENV = Object.freeze({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' });

/** The target of the full chain: req/s as a share of bare grpc-js. */
export const CHAIN_TARGET = 0.7;

interface ChainProcess {
  servers: Array<{ name: string; port: number }>;
  token: string;
  userId: string;
  pid: number;
  usage(): Promise<{ cpuUs: number; handled: Record<string, number> }>;
  /** The floors (floors.ts), measured in this process while no load runs. */
  floors(): Promise<Floor[]>;
  stop(): Promise<void>;
}

function startChainServer(stack: Stack, pinning: boolean, execArgv: string[] = [], env: Record<string, string> = {}): Promise<ChainProcess> {
  const child = fork(join(__dirname, '..', 'dist', 'chain-server.js'), [], {
    execArgv: [...process.execArgv, ...execArgv],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: stack.sink.endpoint, OTEL_SERVICE_NAME: 'bench-chain', ...env },
  });
  // The log lines (one per call) are read and dropped, as a log shipper would read them.
  child.stdout?.resume();
  return new Promise((resolve, reject) => {
    const failed = (code: number | null) => reject(new Error(`chain server exited with code ${code}`));
    child.once('exit', failed);
    child.once('message', (reply: ChainReply) => {
      if (reply.type !== 'ready') return reject(new Error('chain server: unexpected first message'));
      child.off('exit', failed);
      pin(child.pid ?? 0, SERVER_CORE, pinning);
      let queue: Promise<unknown> = Promise.resolve();
      const ask = <T extends ChainReply['type']>(command: ChainCommand, type: T) => {
        const result = queue.then(
          () =>
            new Promise<Extract<ChainReply, { type: T }>>((done) => {
              const onReply = (r: ChainReply) => {
                if (r.type !== type) return;
                child.off('message', onReply);
                done(r as Extract<ChainReply, { type: T }>);
              };
              child.on('message', onReply);
              child.send(command);
            }),
        );
        queue = result.catch(() => undefined);
        return result;
      };
      const usage = () => ask({ type: 'usage' }, 'usage');
      const floors = () => ask({ type: 'floors' }, 'floors').then((r) => r.floors);
      const stop = async () => {
        if (child.exitCode !== null) return;
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      };
      resolve({ servers: reply.servers, token: reply.token, userId: reply.userId, pid: child.pid ?? 0, usage, floors, stop });
    });
  });
}

/** Reads one StreamFlights stream of `messages` messages to its end; returns messages/s. */
async function readStream(port: number, token: string, messages: number): Promise<number> {
  const client = createClient(analyticsV1.AnalyticsServiceClient, `ipv4:127.0.0.1:${port}`);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const started = nowMs();
  const received = await new Promise<number>((resolve, reject) => {
    let count = 0;
    const call = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ limit: messages }), metadata, { deadline: Date.now() + 120_000 });
    call.on('data', () => count++);
    call.on('error', reject);
    call.on('end', () => resolve(count));
  });
  if (received !== messages) throw new Error(`chain stream on port ${port}: expected ${messages} messages, got ${received}`);
  return messages / ((nowMs() - started) / 1000);
}

/** Options of {@link chainScenario}. */
export interface ChainOptions {
  stack: Stack;
  settings: ChainSettings;
  pinning: boolean;
  log: (line: string) => void;
}

/** Runs the chain scenario; returns its summary rows and the table (rows, runs, load average). */
export async function chainScenario(options: ChainOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const { settings, log } = options;
  const loadAverageAtStart = loadavg().map((l) => round(l, 2));
  const chain = await startChainServer(options.stack, options.pinning);
  // The same full chain with tracing's cheap path: 1% of root calls sampled (the standard variables).
  const sampled = await startChainServer(options.stack, options.pinning, [], SAMPLED_ENV).catch(async (error: unknown) => {
    await chain.stop();
    throw error;
  });
  const fullName = lastLayerRow(chain.servers.map((s) => s.name));
  const targets = [
    ...chain.servers.map((s) => ({ ...s, process: chain, counter: s.name })),
    { name: SAMPLED_ROW, port: sampled.servers.find((s) => s.name === fullName)?.port ?? 0, process: sampled, counter: fullName },
  ];
  const runs: ChainRun[] = [];
  let floors: Floor[] = [];
  try {
    const file = join(options.stack.scratchDir, 'chain-get-user.grpc');
    writeFileSync(file, grpcFrame(authV1.GetUserRequest.encode(authV1.GetUserRequest.fromPartial({ userId: chain.userId })).finish()));
    // Not measured: every server once, so no round pays for compiling a layer's code (JIT) and
    // the second process is as warm as the first.
    for (const server of targets) {
      await h2load(`http://127.0.0.1:${server.port}${GET_USER_PATH}`, file, [`authorization: Bearer ${server.process.token}`], { ...settings, durationS: 1, warmUpS: 0 }, options.pinning);
      await readStream(server.port, server.process.token, Math.min(settings.streamMessages, 2_000));
    }
    for (let r = 0; r < settings.rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const server of order) {
        const proc = server.process;
        const before = await proc.usage();
        const running = h2load(`http://127.0.0.1:${server.port}${GET_USER_PATH}`, file, [`authorization: Bearer ${proc.token}`], settings, options.pinning);
        // CPU is counted from the end of h2load's warm-up (a layer's first calls compile its code).
        await sleep(settings.warmUpS * 1000);
        const measuredFrom = await proc.usage();
        const result = await running;
        await sleep(100); // the calls h2load left in flight finish (their log lines, spans)
        const after = await proc.usage();
        const handled = after.handled[server.counter] - before.handled[server.counter];
        if (result.failed > 0 || handled < result.succeeded) {
          throw new Error(`chain ${server.name}: h2load counted ${result.succeeded} successes and ${result.failed} failures, but only ${handled} calls reached the handler (rejected by an interceptor?)`);
        }
        const cpuUsPerCall = (after.cpuUs - measuredFrom.cpuUs) / Math.max(1, after.handled[server.counter] - measuredFrom.handled[server.counter]);
        const streamBefore = await proc.usage();
        const messagesPerSecond = await readStream(server.port, proc.token, settings.streamMessages);
        const streamAfter = await proc.usage();
        const cpuUsPerMessage = (streamAfter.cpuUs - streamBefore.cpuUs) / settings.streamMessages;
        runs.push({ server: server.name, round: r, requestsPerSecond: result.requestsPerSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, handled, cpuUsPerCall: round(cpuUsPerCall, 2), messagesPerSecond: round(messagesPerSecond, 0), cpuUsPerMessage: round(cpuUsPerMessage, 2) });
        log(`  chain ${server.name.padEnd(15)} round ${r + 1}: ${result.requestsPerSecond.toFixed(0)} req/s, ${cpuUsPerCall.toFixed(1)} µs CPU/call; stream ${messagesPerSecond.toFixed(0)} msg/s, ${cpuUsPerMessage.toFixed(2)} µs CPU/msg`);
      }
    }
    floors = await chain.floors();
    log(`  chain floors: ${floors.map((f) => `${f.layer} ${f.usPerCall} µs`).join(', ')}`);
  } finally {
    await chain.stop();
    await sampled.stop();
  }
  const profile = await profileFullChain(options, fullName);
  log(`  chain profile (full chain, ${profile.requestsPerSecond.toFixed(0)} req/s with the profiler): ${profile.shares.slice(0, 5).map((s) => `${s.component.split(' (')[0]} ${s.percent}%`).join(', ')}`);
  const names = targets.map((s) => s.name);
  const table = chainTable(names, runs, settings.rounds);
  const rowOf = (name: string) => table.find((row) => row.server === name) as ChainRow;
  const full = rowOf(fullName);
  const cheap = rowOf(SAMPLED_ROW);
  const bare = rowOf('bare');
  const startServerRow = rowOf('startServer()');
  const ratioOf = (name: string, key: 'requestsPerSecond' | 'messagesPerSecond') => pairedRatio(byRound(runs, name, key), byRound(runs, 'bare', key));
  const fullRatio = ratioOf(full.server, 'requestsPerSecond');
  const rows: SummaryRow[] = [
    { scenario: 'chain', metric: 'full chain req/s, trivial GetUser (h2load)', unit: 'req/s', value: round(full.requestsPerSecond, 0), baseline: round(bare.requestsPerSecond, 0), ratio: roundOrNull(fullRatio), target: ratioTarget(fullRatio, CHAIN_TARGET), note: `${names.filter((n) => n.startsWith('+ ')).length} interceptor layers; per-layer cost in the chain table` },
    { scenario: 'chain', metric: 'full chain req/s, 1% of traces sampled', unit: 'req/s', value: round(cheap.requestsPerSecond, 0), baseline: round(bare.requestsPerSecond, 0), ratio: roundOrNull(ratioOf(cheap.server, 'requestsPerSecond')), note: 'OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01, in a second process (see the chain section before reading it)' },
    { scenario: 'chain', metric: 'startServer() req/s, no interceptors', unit: 'req/s', value: round(startServerRow.requestsPerSecond, 0), baseline: round(bare.requestsPerSecond, 0), ratio: roundOrNull(ratioOf(startServerRow.server, 'requestsPerSecond')), note: 'health, reflection, stream tracking, decode-limit layer' },
    { scenario: 'chain', metric: 'startServer() + pass-through layers req/s', unit: 'req/s', value: round(rowOf(PASS_THROUGH_ROW).requestsPerSecond, 0), baseline: round(bare.requestsPerSecond, 0), ratio: roundOrNull(ratioOf(PASS_THROUGH_ROW, 'requestsPerSecond')), note: 'as many grpc-js interceptor layers as the chain has for GetUser, each passing events on: what layering alone costs' },
    { scenario: 'chain', metric: 'full chain stream messages/s (StreamFlights)', unit: 'msg/s', value: round(full.messagesPerSecond, 0), baseline: round(bare.messagesPerSecond, 0), ratio: roundOrNull(ratioOf(full.server, 'messagesPerSecond')), note: `one stream of ${settings.streamMessages} one-flight messages per server and round` },
  ];
  return { rows, data: { settings, loadAverageAtStart, loadAverageAtEnd: loadavg().map((l) => round(l, 2)), table, runs, profile, floors } };
}

/**
 * Where the full chain's CPU time goes: a fresh chain process with V8's sampling profiler
 * preloaded (profile-preload.ts: the data of `node --cpu-prof`, but started and stopped by
 * SIGUSR2, so the start-up of the servers is left out), one h2load run against the full chain
 * only (not one of the measured runs), profiled after its warm-up, its samples attributed to
 * components as the unary profile does.
 */
async function profileFullChain(options: ChainOptions, server: string): Promise<{ requestsPerSecond: number; shares: ProfileShare[] }> {
  const profileFile = join(options.stack.scratchDir, 'chain.cpuprofile');
  const chain = await startChainServer(options.stack, options.pinning, ['--require', join(__dirname, '..', 'dist', 'profile-preload.js')], { BENCH_PROFILE_FILE: profileFile });
  let result;
  try {
    const file = join(options.stack.scratchDir, 'chain-get-user.grpc');
    const port = chain.servers.find((s) => s.name === server)?.port;
    const running = h2load(`http://127.0.0.1:${port}${GET_USER_PATH}`, file, [`authorization: Bearer ${chain.token}`], { ...options.settings, warmUpS: Math.max(1, options.settings.warmUpS) }, options.pinning);
    await sleep(Math.max(1, options.settings.warmUpS) * 1000);
    process.kill(chain.pid, 'SIGUSR2');
    result = await running;
    process.kill(chain.pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(profileFile); i++) await sleep(100);
  } finally {
    await chain.stop();
  }
  if (!existsSync(profileFile)) throw new Error(`chain profile: no profile written to ${profileFile}`);
  return { requestsPerSecond: result.requestsPerSecond, shares: attribute(JSON.parse(readFileSync(profileFile, 'utf8')) as Parameters<typeof attribute>[0]) };
}

export { chainTable, lastLayerRow, SAMPLED_ROW, type ChainRow, type ChainRun };
