/**
 * The chain section of docs/benchmarks.md: the table of each prefix of the server chain, what
 * each layer adds per call, the floors (what each concern's own library call costs) and what
 * was tried for each layer.
 */
import { CHAIN_TARGET, lastLayerRow, SAMPLED_ENV, SAMPLED_ROW, type ChainRow } from './chain.js';
import { PASS_THROUGH_ROW } from './chain-rows.js';
import type { Floor } from './floors.js';
import { cell } from './cell.js';
import type { BenchResults } from './results.js';

/** The chain table: each prefix of the server chain against bare, and what each layer adds per call. */
interface ChainData {
  settings: Record<string, number>;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  table: ChainRow[];
  profile?: { requestsPerSecond: number; shares: Array<{ component: string; percent: number }> };
  floors?: Floor[];
}

/**
 * What was done about each layer's cost, and what is left: the concern itself. Written by hand
 * (it is the history of the code, not a measurement); the numbers next to it are this run's.
 */
export const TRIED: Readonly<Record<string, string>> = Object.freeze({
  recovery: 'it creates the call context: one context per call on the base call (no WeakMap entry per call since this change), its AbortSignal created only when read (aborting one costs the "for comparison" floor; most calls never read it), one AsyncLocalStorage scope per event however many layers ask. Left: the layer, the scopes, the context object; without it a throw in a handler reaches the client as UNKNOWN with the error text.',
  tracing: 'the sampler honours OTEL_TRACES_SAMPLER (the 1% row: an unsampled call still extracts the parent and starts a non-recording span). Left: the OpenTelemetry span itself and its export; dropping it drops the trace.',
  metrics: 'labels built once per call. Left: prom-client\'s label hashing per increment (4 counters and a histogram, the go-grpc-prometheus set).',
  logging: 'the destination is asynchronous (sonic-boom, buffered); non-OK lines sampled per method and code. Left: pino serialising the line; OK calls are never sampled out, by design (one line per call).',
  'request id': 'Left: a UUID v4 per call without one, and the id set on the request metadata and the response headers.',
  deadline: 'a timer only when the server default or the cap is earlier than the caller\'s own deadline (h2load sends none, so every call here arms one). Left: the timer.',
  auth: 'verified-token cache (bounded LRU until exp, dropped on key-set change: Envoy jwt_authn\'s way) and a synchronous path for a cached token. Left: the cache lookup and the context; the ES256 check it saves is the "for comparison" floor.',
  authz: 'Left: evaluating the A43-shaped policy (pattern matching per rule).',
  'rate limit': 'Left: rate-limiter-flexible\'s consume, a promise per call even in memory (its API); a synchronous limiter would be code of our own in place of a well-kept library.',
  validation: 'no layer for a method without rules. Left: the registry lookup and the validator.',
});

export function chainSection(results: BenchResults): string {
  const chain = results.scenarios.chain as ChainData | undefined;
  if (!chain) return '';
  const s = chain.settings;
  const us = (v: number | null) => (v === null ? '–' : v.toFixed(v !== 0 && Math.abs(v) < 10 ? 2 : 1));
  const rows = chain.table.map((r) => `| ${r.server} | ${cell(r.requestsPerSecond)} | ${cell(r.ratio)} | ${us(r.cpuUsPerCall)} | ${us(r.addedUsPerCall)} | ${cell(r.messagesPerSecond)} | ${us(r.cpuUsPerMessage)} | ${us(r.addedUsPerMessage)} |`);
  const full = chain.table.find((r) => r.server === lastLayerRow(chain.table.map((row) => row.server))) as ChainRow;
  const paying = chain.table
    .filter((r) => r.server.startsWith('+ '))
    .filter((r) => (r.addedUsPerCall ?? 0) > 0)
    .sort((a, b) => (b.addedUsPerCall ?? 0) - (a.addedUsPerCall ?? 0))
    .slice(0, 3)
    .map((r) => `${r.server.replace(/^\+ /, '')} ${us(r.addedUsPerCall)} µs`);
  return `## The server interceptor chain, layer by layer

A trivial service (GetUser answers a fixed message from memory; StreamFlights writes
one-flight messages) behind a bare \`grpc.Server\`, behind grpc-kit's \`startServer()\` with no
interceptors, and behind each prefix of \`serverInterceptorLayers()\` (the chain every service
runs, in its order; "+ validation" is the full chain), all in one process on the server core
(tools/bench/src/chain-server.ts). The chain gets what serve() gives a service: pino at info to
a pipe, OpenTelemetry with the batching OTLP exporter, prom-client, an ES256 access token
verified against a local key set, the token bucket (never rejecting), a validator on GetUser.
h2load as in the unary scenario (${s.clients} connections × ${s.streams} streams, ${s.durationS} s after ${s.warmUpS} s warm-up, same token),
one unmeasured pass over every server first (JIT warm-up), then ${s.rounds} round(s), forwards then backwards; then one stream of ${s.streamMessages} messages per server and
round. CPU is the server process' (process.cpuUsage) after the warm-up, over the calls that reached the handler then;
"adds" is a row's CPU per call minus the row before's, median over the rounds. Load average
${chain.loadAverageAtStart.join(', ')} when it started, ${chain.loadAverageAtEnd.join(', ')} when it ended (shared machine: other jobs
run on both cores).

| server | req/s | vs bare | CPU µs/call | adds µs/call | stream msg/s | CPU µs/msg | adds µs/msg |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Full chain: ${cell(full.ratio)} of bare req/s (target >= ${CHAIN_TARGET.toFixed(2)}${full.ratio !== null && full.ratio < CHAIN_TARGET ? `: missed by ${Math.round((CHAIN_TARGET - full.ratio) * 100)} percentage points` : ': met'}); the layers that add most per call: ${paying.join(', ') || 'none measurable'}.
The row "${PASS_THROUGH_ROW}" is startServer() with as many grpc-js interceptor layers as the
chain has for GetUser, each passing every event on and doing nothing else: its "adds" (against
startServer()) is what the layering alone costs, whatever the layers do.
The last row, "${SAMPLED_ROW}", is the full chain in a second process started with
${Object.entries(SAMPLED_ENV).map(([k, v]) => `\`${k}=${v}\``).join(' ')} (tracing's cheap path; the default stays
parentbased_always_on): its "adds" column is its difference to the full chain. Read it with its
stream columns: sampling changes nothing per stream message, so where that row is also slower
per message than the full chain, the second process itself was slower in this run (it served
fewer calls, and shares the server core with the first), and the row says nothing about sampling.
The "decode limit" row adds nothing by construction: startServer() appends that layer to every
chain that lacks it (and since this change it is no layer at all for a method without a decode
limit, such as GetUser).
${
    chain.profile
      ? `
Where the full chain's CPU time goes: one more h2load run against the full-chain server only, in
a fresh chain process with V8's sampling profiler (the data of \`node --cpu-prof\`, started after
h2load's warm-up and stopped at its end, so start-up is left out; ${cell(Math.round(chain.profile.requestsPerSecond))} req/s with the profiler);
samples attributed as in the auth profile below (a frame's script, or its nearest caller's; idle left out).

| component | share of the chain process' busy CPU |
|---|---|
${chain.profile.shares.map((p) => `| ${p.component} | ${p.percent}% |`).join('\n')}
`
      : ''
  }${floorsSection(chain)}
`;
}

/** The floors table: each layer's measured cost next to its concern's own library call, and what was tried. */
function floorsSection(chain: ChainData): string {
  if (!chain.floors?.length) return '';
  const us = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(Math.abs(v) < 10 ? 2 : 1));
  const layerCount = chain.table.filter((r) => r.server.startsWith('+ ') && r.server !== '+ decode limit').length;
  const passThrough = chain.table.find((r) => r.server === PASS_THROUGH_ROW)?.addedUsPerCall ?? null;
  const perLayer = passThrough === null ? null : passThrough / Math.max(1, layerCount);
  const rows = chain.table
    .filter((r) => r.server.startsWith('+ ') && r.server !== '+ decode limit')
    .map((r) => {
      const layer = r.server.replace(/^\+ /, '');
      const floors = chain.floors?.filter((f) => f.layer === layer) ?? [];
      const counted = floors.filter((f) => !f.work.startsWith('for comparison'));
      const floor = counted.reduce((sum, f) => sum + f.usPerCall, 0);
      const rest = r.addedUsPerCall === null ? null : r.addedUsPerCall - floor - (perLayer ?? 0);
      const work = floors.map((f) => `${f.work}: ${us(f.usPerCall)} µs`).join('; ');
      return `| ${layer} | ${us(r.addedUsPerCall)} | ${work || '–'} | ${us(perLayer)} | ${us(rest)} | ${TRIED[layer] ?? ''} |`;
    });
  const bare = chain.table.find((r) => r.server === 'bare')?.cpuUsPerCall ?? NaN;
  const floorSum = floorTotal(chain.floors);
  const cpuOf = (name: string) => chain.table.find((r) => r.server === name)?.cpuUsPerCall ?? NaN;
  const fullAdds = cpuOf(lastLayerRow(chain.table.map((r) => r.server))) - cpuOf('startServer()');
  return `
What each layer's cost is made of. "floor" is the concern's own library call, measured on its own
in the chain process after the rounds (same logger, tracer provider and exporter, key set,
limiter, policy and validator; CPU per operation after a warm-up, asynchronous work it starts
awaited and counted: tools/bench/src/floors.ts). "layer" is the pass-through row's cost divided
by its ${layerCount} layers. "rest" = adds - floor - layer: the interceptor's own code around the
call (context reads, closures, metadata) plus noise; a negative rest means the floor measured
alone cost more than in the chain (warmer caches, batching) or the adds were low this run.

| layer | adds µs/call | floor (work: µs/call) | layer µs | rest µs | tried, and what is left |
|---|---|---|---|---|---|
${rows.join('\n')}

In all, the full chain costs ${us(fullAdds)} µs per call more than startServer(): the floors ${us(floorSum)}, the layering
${us(passThrough)}, the rest ${us(fullAdds - floorSum - (passThrough ?? 0))} (the interceptors' own code around those calls, and the
async-context and promise work they cause: the profile's "other interceptors" and "other"
shares). One row's "adds" is a difference of two measurements and moves by some 10 µs between
runs; this sum is steadier.

The floors add up to ${us(floorSum)} µs per call against bare's ${us(bare)} µs: with every concern on (each call
traced and logged), a chain made of nothing but those library calls, no layer and no code of
ours, would serve at most ${cell(chainCeiling(bare, chain.floors))} of bare's calls per CPU second${chainCeiling(bare, chain.floors) < CHAIN_TARGET ? `: the ${CHAIN_TARGET.toFixed(2)} target lies above that ceiling, and
no work on the layers or the rest can reach it while every call is traced and logged` : `, above the ${CHAIN_TARGET.toFixed(2)} target: the layers and the rest are what stand between`}.
`;
}

/** The floors counted against the chain (the "for comparison" ones left out), µs per call. */
export function floorTotal(floors: readonly Floor[]): number {
  return floors.filter((f) => !f.work.startsWith('for comparison')).reduce((sum, f) => sum + f.usPerCall, 0);
}

/** The share of bare's req/s a chain costing only its floors could reach: bare CPU / (bare CPU + floors). */
export function chainCeiling(bareUsPerCall: number, floors: readonly Floor[]): number {
  return bareUsPerCall / (bareUsPerCall + floorTotal(floors));
}
