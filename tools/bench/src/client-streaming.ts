/**
 * Client streaming: metrics UploadMetrics points per second ingested (upload as fast as flow
 * control allows, until the summary arrives), against the bare grpc-js server that only counts
 * the points — alternating rounds. The summary's cost per point is the server's CPU time per
 * point (from /proc), the metrics service's minus the bare server's: validation, per-series
 * statistics and DDSketch quantiles.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@grpc-patterns/grpc-kit';
import { metricsV1 } from '@grpc-patterns/proto';
import { alternate, cpuSeconds, median, nowMs, round, roundOrNull } from './measure.js';
import { pairedRatio, type SummaryRow } from './results.js';
import { bearer, type BenchUser, type RunningService, type Stack } from './stack.js';

/** Options of {@link clientStreamingScenario}. */
export interface ClientStreamingOptions {
  stack: Stack;
  metrics: RunningService;
  user: BenchUser;
  /** Points per upload. */
  points: number;
  /** Distinct series (name + labels) the points spread over. */
  series: number;
  rounds: number;
  log: (line: string) => void;
}

/** Uploads `points` points on one stream; resolves with points/s and the server's response. */
function upload(client: metricsV1.MetricsServiceClient, metadata: grpc.Metadata, points: number, series: number): Promise<{ pointsPerSecond: number; response: metricsV1.UploadMetricsResponse }> {
  return new Promise((resolve, reject) => {
    const started = nowMs();
    const call = client.uploadMetrics(metadata, { deadline: Date.now() + 600_000 }, (error, response) => {
      if (error || !response) return reject(error ?? new Error('no response'));
      resolve({ pointsPerSecond: points / ((nowMs() - started) / 1000), response });
    });
    const time = new Date();
    let i = 0;
    const writeMore = () => {
      while (i < points) {
        const point = metricsV1.UploadMetricsRequest.fromPartial({ name: 'bench_request_latency_ms', value: (i * 7919) % 1000, time, labels: { series: String(i % series) } });
        i++;
        if (!call.write(point)) return void call.once('drain', writeMore);
      }
      call.end();
    };
    writeMore();
  });
}

/** Runs the scenario; returns the summary rows and the raw numbers. */
export async function clientStreamingScenario(options: ClientStreamingOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const metadata = bearer(options.user);
  const clients = {
    service: { client: createClient(metricsV1.MetricsServiceClient, options.metrics.process.target), pid: options.metrics.pid },
    bare: { client: createClient(metricsV1.MetricsServiceClient, options.stack.bare.target), pid: options.stack.bare.pid },
  };
  const runs: Array<{ target: 'service' | 'bare'; pointsPerSecond: number; cpuMicrosPerPoint: number }> = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const target of alternate<'service' | 'bare'>(round, 'bare', 'service')) {
      const { client, pid } = clients[target];
      const cpuBefore = cpuSeconds(pid);
      const { pointsPerSecond, response } = await upload(client, metadata, options.points, options.series);
      const cpuMicrosPerPoint = ((cpuSeconds(pid) - cpuBefore) * 1e6) / options.points;
      if (Number(response.acceptedCount) !== options.points) throw new Error(`client streaming ${target}: ${response.acceptedCount} of ${options.points} points accepted`);
      if (target === 'service' && response.series.length !== options.series) throw new Error(`client streaming: expected ${options.series} series in the summary, got ${response.series.length}`);
      runs.push({ target, pointsPerSecond, cpuMicrosPerPoint });
      options.log(`  upload ${target.padEnd(7)} round ${round + 1}: ${pointsPerSecond.toFixed(0)} points/s, server CPU ${cpuMicrosPerPoint.toFixed(2)} µs/point`);
    }
  }
  type Key = 'pointsPerSecond' | 'cpuMicrosPerPoint';
  const of = (target: 'service' | 'bare', key: Key) => runs.filter((r) => r.target === target).map((r) => r[key]);
  const med = (target: 'service' | 'bare', key: Key) => median(of(target, key));
  const paired = (key: Key) => roundOrNull(pairedRatio(of('service', key), of('bare', key)));
  const serviceCpu = med('service', 'cpuMicrosPerPoint');
  const bareCpu = med('bare', 'cpuMicrosPerPoint');
  return {
    rows: [
      { scenario: 'client streaming', metric: 'UploadMetrics points/s ingested', unit: 'points/s', value: round(med('service', 'pointsPerSecond'), 0), baseline: round(med('bare', 'pointsPerSecond'), 0), ratio: paired('pointsPerSecond'), note: `${options.points} points per upload over ${options.series} series` },
      { scenario: 'client streaming', metric: 'server CPU per point', unit: 'µs', value: round(serviceCpu, 2), baseline: round(bareCpu, 2), ratio: paired('cpuMicrosPerPoint') },
      { scenario: 'client streaming', metric: "summary's cost per point (service minus bare CPU)", unit: 'µs', value: round(serviceCpu - bareCpu, 2), note: 'validation, per-series statistics, DDSketch quantiles' },
    ],
    data: { points: options.points, series: options.series, runs },
  };
}
