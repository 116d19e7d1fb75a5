/**
 * Server streaming: analytics StreamFlights rows per second to a fast client (reads as fast as
 * it can), against the bare grpc-js server streaming the same messages (the real service's
 * first chunks, repeated) — alternating rounds. Then a slow client reading the whole data set
 * (no limit) at 100 rows/s, with the server's RSS sampled every second: backpressure (grpc-kit
 * waits for 'drain'; HTTP/2 flow control stops the writes) must keep it flat.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@grpc-patterns/grpc-kit';
import { analyticsV1 } from '@grpc-patterns/proto';
import { collect } from '@grpc-patterns/testing';
import { alternate, median, nowMs, round, roundOrNull, rssBytes, sleep } from './measure.js';
import { maxTarget, pairedRatio, ratioTarget, type SummaryRow } from './results.js';
import { bearer, type BenchUser, type RunningService, type Stack } from './stack.js';

/** Options of {@link serverStreamingScenario}. */
export interface ServerStreamingOptions {
  stack: Stack;
  analytics: RunningService;
  user: BenchUser;
  /** Rows per fast stream. */
  rows: number;
  /** Rows per message (chunk_size). */
  chunkSize: number;
  rounds: number;
  /** How long the slow client reads, s. */
  slowSeconds: number;
  /** Slow client's pace, rows/s. */
  slowRowsPerSecond: number;
  log: (line: string) => void;
}

/** Reads one StreamFlights stream to its end; returns rows per second. */
export async function fastStream(client: analyticsV1.AnalyticsServiceClient, metadata: grpc.Metadata, rows: number, chunkSize: number): Promise<number> {
  const started = nowMs();
  const chunks = await collect(client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize, limit: rows }), metadata));
  const received = chunks.reduce((sum, c) => sum + c.flights.length, 0);
  if (received !== rows) throw new Error(`server streaming: expected ${rows} rows, got ${received}`);
  return rows / ((nowMs() - started) / 1000);
}

/**
 * Reads a stream of the whole data set at `rowsPerSecond` for `seconds`, sampling the server's
 * RSS once a second; cancels the stream at the end. Returns the samples (MiB) and rows read.
 */
async function slowStream(client: analyticsV1.AnalyticsServiceClient, metadata: grpc.Metadata, pid: number, options: ServerStreamingOptions): Promise<{ rssMiB: number[]; rows: number }> {
  const mib = () => rssBytes(pid) / 2 ** 20;
  const rssMiB = [mib()];
  let rows = 0;
  const call = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 10 }), metadata);
  const started = nowMs();
  let failure: Error | undefined;
  call.on('data', (chunk: analyticsV1.StreamFlightsResponse) => {
    rows += chunk.flights.length;
    // Hold the next read until the pace allows it: grpc-js stops reading, HTTP/2 flow control
    // fills, and the server's writes wait for 'drain'.
    const due = started + (rows / options.slowRowsPerSecond) * 1000;
    call.pause();
    setTimeout(() => call.resume(), Math.max(0, due - nowMs()));
  });
  call.on('error', (error: grpc.ServiceError) => {
    if (error.code !== grpc.status.CANCELLED) failure = error;
  });
  for (let s = 0; s < options.slowSeconds; s++) {
    await sleep(1_000);
    rssMiB.push(mib());
  }
  call.cancel();
  if (failure) throw failure;
  return { rssMiB, rows };
}

/** Runs the scenario; returns the summary rows and the raw numbers. */
export async function serverStreamingScenario(options: ServerStreamingOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const { stack, user } = options;
  const metadata = bearer(user);
  const real = createClient(analyticsV1.AnalyticsServiceClient, options.analytics.process.target);
  const bare = createClient(analyticsV1.AnalyticsServiceClient, stack.bare.target);
  // The bare server repeats the real service's first chunks: the same messages, byte for byte.
  const sample = await collect(real.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: options.chunkSize, limit: Math.min(options.rows, 50 * options.chunkSize) }), metadata));
  await stack.bare.command({ type: 'setFlights', chunks: sample.map((c) => Buffer.from(analyticsV1.StreamFlightsResponse.encode(c).finish()).toString('base64')) });

  const runs: Array<{ target: 'service' | 'bare'; rowsPerSecond: number }> = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const target of alternate<'service' | 'bare'>(round, 'bare', 'service')) {
      const rowsPerSecond = await fastStream(target === 'service' ? real : bare, metadata, options.rows, options.chunkSize);
      runs.push({ target, rowsPerSecond });
      options.log(`  stream ${target.padEnd(7)} round ${round + 1}: ${rowsPerSecond.toFixed(0)} rows/s`);
    }
  }
  const serviceRate = median(runs.filter((r) => r.target === 'service').map((r) => r.rowsPerSecond));
  const bareRate = median(runs.filter((r) => r.target === 'bare').map((r) => r.rowsPerSecond));
  const ratio = pairedRatio(runs.filter((r) => r.target === 'service').map((r) => r.rowsPerSecond), runs.filter((r) => r.target === 'bare').map((r) => r.rowsPerSecond));

  options.log(`  slow client: ${options.slowRowsPerSecond} rows/s for ${options.slowSeconds} s, sampling analytics RSS`);
  const slow = await slowStream(real, metadata, options.analytics.pid, options);
  const growth = Math.max(...slow.rssMiB) - slow.rssMiB[0];
  options.log(`  slow client: read ${slow.rows} rows; RSS ${slow.rssMiB[0].toFixed(1)} -> max ${Math.max(...slow.rssMiB).toFixed(1)} MiB`);
  return {
    rows: [
      { scenario: 'server streaming', metric: 'StreamFlights rows/s, fast client', unit: 'rows/s', value: round(serviceRate, 0), baseline: round(bareRate, 0), ratio: roundOrNull(ratio), target: ratioTarget(ratio, 0.85), note: `${options.rows} rows per stream, ${options.chunkSize} rows per message` },
      {
        scenario: 'server streaming',
        metric: `RSS growth, slow client (${options.slowRowsPerSecond} rows/s)`,
        unit: 'MiB',
        value: round(growth, 1),
        target: maxTarget(growth, 50, 'MiB'),
        note: `whole data set requested; read for ${options.slowSeconds} s (${slow.rows} rows), then cancelled`,
      },
    ],
    data: { rowsPerStream: options.rows, chunkSize: options.chunkSize, runs, slow: { ...slow, seconds: options.slowSeconds, rowsPerSecond: options.slowRowsPerSecond } },
  };
}
