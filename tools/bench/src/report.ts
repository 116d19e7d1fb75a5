/**
 * docs/benchmarks.md, generated from results.json by every `npm run bench` (never edited by
 * hand: the numbers, the machine and the commands always come from the same run).
 */
import { basename, dirname, relative } from 'node:path';
import { cell } from './cell.js';
import type { Floor } from './floors.js';
import { chainCeiling, chainSection } from './report-chain.js';
import type { BenchResults, SummaryRow } from './results.js';

function targetCell(row: SummaryRow): string {
  if (!row.target) return '';
  return row.target.met ? `${row.target.text}: **met**` : `${row.target.text}: **not met**, ${row.target.gap}`;
}

/** One line per target: met, or the gap (and for the unary one, where auth's CPU goes). */
function gapSection(results: BenchResults): string {
  const targeted = results.summary.filter((row) => row.target || /not measured/.test(row.note ?? ''));
  const profile = results.scenarios['unary profile'] as { shares: Array<{ component: string; percent: number }> } | undefined;
  const lines = targeted.map((row) => {
    if (!row.target) return `- ${row.scenario}, ${row.metric}: ${row.note}.`;
    const what = `- ${row.scenario}, ${row.metric}: target ${row.target.text}, measured ${row.unit === 'MiB' || row.baseline === undefined ? `${cell(row.value)} ${row.unit}` : `ratio ${cell(row.ratio)}`}`;
    if (row.target.met) return `${what}: **met**.`;
    const chainData = results.scenarios.chain as { profile?: { shares: Array<{ component: string; percent: number }> }; floors?: Floor[]; table?: Array<{ server: string; cpuUsPerCall: number }> } | undefined;
    const chainProfile = chainData?.profile;
    const bareCpu = chainData?.table?.find((r) => r.server === 'bare')?.cpuUsPerCall;
    const ceiling = chainData?.floors?.length && bareCpu ? `; the concerns' own library calls (floors) alone bound it at ${cell(chainCeiling(bareCpu, chainData.floors))}` : '';
    const top = (shares: Array<{ component: string; percent: number }>) => shares.slice(0, 3).map((s) => `${s.component} ${s.percent}%`).join(', ');
    const serviceProfile = results.scenarios[row.scenario === 'orders' ? 'orders profile' : `${row.scenario} profile`] as { service: string; busyPercent: number; authBusyPercent: number; shares: Array<{ component: string; percent: number }> } | undefined;
    const why =
      row.scenario !== 'unary' && serviceProfile
        ? ` One more run with V8's profiler in ${serviceProfile.service}: ${serviceProfile.busyPercent}% of a core busy (auth ${serviceProfile.authBusyPercent}%); largest shares of its busy CPU: ${top(serviceProfile.shares)}.`
        : row.scenario === 'unary' && profile
        ? ` Largest shares of auth's CPU under this load: ${top(profile.shares)} (table below).`
        : row.scenario === 'chain' && chainProfile
          ? ` Largest shares of the chain process' CPU (V8 profiler): ${top(chainProfile.shares)}; per-layer costs in the chain section${ceiling}.`
          : '';
    return `${what}: **not met**, ${row.target.gap}.${why}`;
  });
  return lines.length ? `Targets:\n\n${lines.join('\n')}\n` : '';
}

/** The "where auth's CPU time goes" table, when the run profiled auth. */
function profileSection(results: BenchResults): string {
  const profile = results.scenarios['unary profile'] as { requestsPerSecondWithProfiler: number; shares: Array<{ component: string; percent: number }> } | undefined;
  if (!profile) return '';
  return `## Where auth's CPU time goes

One more h2load run against GetUser (not one of the measured rounds), with V8's sampling
profiler on in auth (${cell(Math.round(profile.requestsPerSecondWithProfiler))} req/s with the profiler). Each sample counts for the
component of its frame's script, or of its nearest caller with a known script (Node internals
count for their caller); idle time left out.

| component | share of auth's busy CPU |
|---|---|
${profile.shares.map((s) => `| ${s.component} | ${s.percent}% |`).join('\n')}

`;
}

/** Renders the report; `plots` are PNG paths, `reportPath` where it is written (links are relative to it). */
export function renderReport(results: BenchResults, plots: string[], reportPath: string, outDir: string): string {
  const m = results.machine;
  const rel = (path: string) => relative(dirname(reportPath), path) || basename(path);
  const rows = results.summary.map(
    (row) => `| ${row.scenario} | ${row.metric} | ${cell(row.value)} ${row.value === null ? '' : row.unit} | ${row.baseline === undefined ? '' : `${cell(row.baseline)} ${row.unit}`} | ${cell(row.ratio)} | ${targetCell(row)} | ${row.note ?? ''} |`,
  );
  const tracing = results.scenarios.tracing as { exportRequests: number; exportedBytes: number } | undefined;
  const s = results.settings as Record<string, Record<string, number>>;
  const rl = results.settings.authRateLimit as { RATE_LIMIT_RPS: string; RATE_LIMIT_BURST: string } | undefined;
  return `# Benchmarks

What the patterns cost, measured side by side in one run against bare grpc-js servers that
send the same messages. Generated by \`npm run bench\` (${results.mode} run, ${results.startedAt} to
${results.finishedAt}); do not edit: run it again to regenerate this page, \`${rel(outDir)}/results.json\`
and the plots.

## Results

The ratio is the pattern's number over the baseline's (higher is better for rates, lower for
latency and memory). Each round runs the baseline and the service back to back, alternating
which goes first; the numbers are medians over the rounds and the ratio is the median of the
rounds' own ratios (a slow spell of the shared machine hits both runs of a round).

${gapSection(results)}

| scenario | metric | pattern | bare grpc-js | ratio | target | note |
|---|---|---|---|---|---|---|
${rows.join('\n')}

${plots.map((p) => `![${basename(p, '.png')}](${rel(p)})`).join('\n\n')}

${chainSection(results)}${profileSection(results)}## What runs

- **Unary**: h2load against \`auth.v1.AuthService/GetUser\` on the real auth process (built
  \`apps/auth/dist/main.js\`, started by libs/testing \`spawnService\`) through its whole
  interceptor chain: recovery, tracing (OTLP/HTTP batching exporter, really exporting to a sink
  in the bench process${tracing ? `: ${tracing.exportRequests} export requests, ${cell(tracing.exportedBytes)} bytes this run` : ''}),
  Prometheus metrics, logging at \`info\` (one line per call, to a pipe read by the bench),
  request id, deadline, JWT auth (ES256, verified against auth's keys), authorization policy,
  rate limit, validation, then the handler reading the user from PGlite. The baseline is a bare
  \`grpc.Server\` answering the same \`GetUserResponse\` bytes from memory. Same request file, same
  h2load settings (${s.unary?.clients} connections × ${s.unary?.streams} streams, ${s.unary?.durationS} s after ${s.unary?.warmUpS} s warm-up, ${s.unary?.rounds} rounds).
  h2load counts any HTTP 200 as a success, so after every run the bench reads
  \`grpc_server_handled_total\` from auth's \`/metrics\` and fails unless no call ended with a code
  other than OK (CANCELLED only for the streams h2load resets when its time is up) and the OK
  count covers h2load's successes; p50/p99 come from h2load's \`--log-file\` (warm-up left out).
- **Rate limit on**: the default limiter is a token bucket of 100 calls/s per user and method
  (plus a burst of 200), far below the offered load, so the bench starts auth with
  \`RATE_LIMIT_RPS=${rl?.RATE_LIMIT_RPS ?? '?'} RATE_LIMIT_BURST=${rl?.RATE_LIMIT_BURST ?? '?'}\` (\`rateLimitEnv()\`, the variables any deployment sets):
  the limiter still consumes from the user's bucket on every call and never rejects one. ${
    results.settings.redis
      ? 'This run set `REDIS_URL`: the buckets are in Redis (one round trip per call, as replicas sharing a limit pay it).'
      : 'This run did not set `REDIS_URL`: the buckets are in auth\'s memory (the default; `REDIS_URL=redis://… npm run bench` measures them in Redis).'
  }
  The other scenarios spread their calls over ${s.users} bench users so no user passes 100 calls/s
  (chat streams are opened in batches of 5 per user at most every 60 ms: 83 calls/s per user).
- **Server streaming**: \`StreamFlights\` over the 3M-row vega-datasets flights file,
  ${s.stream?.rows} rows per stream in messages of ${s.stream?.chunkSize}, read as fast as the client can; the
  baseline streams the service's own first messages again (no parquet decoding). The slow
  client asks for the whole data set and reads 100 rows/s for ${s.stream?.slowSeconds} s (reading all 3M
  rows at that pace takes 8 h), while the server's RSS is sampled every second.
- **Client streaming**: \`UploadMetrics\` with ${s.upload?.points} points over ${s.upload?.series} series as fast as flow control
  allows; the baseline only counts points. Cost per point = server CPU time (/proc utime+stime)
  per point, service minus baseline.
- **Bidi**: ${s.bidi?.idleStreams} \`Chat\` streams, at most ${s.bidi?.streamsPerChannel} per channel (HTTP/2 connection: grpc-kit servers
  allow 100 concurrent streams per connection, \`grpc.max_concurrent_streams\`), each joined to a room of its own and acknowledged, then the
  server's RSS growth / streams, against the bare server holding as many streams. Fan-out: ${s.bidi?.roomMembers}
  members in one room, one sends ${s.bidi?.messages} messages ${s.bidi?.messageIntervalMs} ms apart; latency = send to
  each member's receipt, one clock.
- **Orders**: \`PlaceOrder\` with new idempotency keys, ${s.orders?.concurrency} in flight for ${s.orders?.seconds} s (each calls
  auth.GetUser downstream), then ${s.orders?.replays} replays of placed keys one at a time; on PGlite, and on
  PostgreSQL ${results.settings.postgres ? '(`DATABASE_URL`)' : ': not measured (DATABASE_URL not set)'}.
- **Channel reuse**: ${s.channels?.calls} GetUser calls one at a time to the bare server, on one shared channel
  (grpc-kit \`createClient\`) and on a new channel per call.

## Machine

| | |
|---|---|
| CPU | ${m.cpus} |
| memory | ${m.memoryGiB} GiB |
| OS | ${m.os} |
| Node | ${m.node} |
| @grpc/grpc-js | ${m.grpcJs} |
| h2load | ${m.h2load} |
| pinning | ${m.pinned ? 'servers on core 0, load (bench process, h2load) on core 1, with taskset' : 'none (taskset missing or one core)'} |
| load average (1, 5, 15 min) | ${m.loadAverageAtStart.join(', ')} at the start, ${m.loadAverageAtEnd?.join(', ') ?? '?'} at the end |

## Commands

<!-- doctest: skip a sketch with placeholders of what npm run bench runs -->
\`\`\`sh
${results.commands.join('\n')}
\`\`\`

\`npm run bench -- --quick\` is a shorter run; \`npm run bench -- --smoke\` a seconds-long one (the
jest spec \`tools/bench/src/bench.spec.ts\` runs it in \`npm test\`, checking the JSON's shape only,
never timings).

## Caveats

- The machine is shared (load average ${m.loadAverageAtStart[0]} when this run started, on ${m.cores} cores: other jobs
  compete for both cores, including the one the servers are pinned to): absolute
  numbers move between runs; the ratios are measured in the same run, alternating, and are the
  numbers to read.
- The baselines answer from memory: the unary ratio includes the PGlite lookup, the streaming
  ratio the parquet decoding, as a user of the stack pays them.
- RSS is the whole process' resident memory (V8 heap, buffers, native); garbage collection
  runs when V8 decides, so small differences are noise.
`;
}
