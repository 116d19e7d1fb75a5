// One call with 1,000,000 points, generated lazily and written with client-side backpressure:
// the summary is exact where it should be, and the service's state does not grow with the
// stream (series count and sketch bins equal those of a 4,000-point call of the same data).
import { exactQuantile, point, startMetrics, upload, NOW_MS, type StartedMetrics } from '../test/helpers.js';
import { SKETCH_BIN_LIMIT } from './series-stats.js';

/**
 * Point i: series s = floor(i / 1000) % 4 (label "s"), value (i % 1000) + 1, one point in
 * 100 with a NaN value (rejected). So every series gets whole blocks of 1..1000 minus the
 * multiples of 100, and any prefix of 4,000 points has the same value range as the whole.
 */
function* points(n: number) {
  for (let i = 0; i < n; i++) {
    yield point({
      name: 'load_test_value',
      value: i % 100 === 99 ? NaN : (i % 1000) + 1,
      time: new Date(NOW_MS - (i % 1000)),
      labels: { s: String(Math.floor(i / 1000) % 4) },
    });
  }
}

describe('a long UploadMetrics stream', () => {
  let metrics: StartedMetrics;
  afterAll(async () => {
    await metrics?.server.close();
  });

  it('summarises 1,000,000 points with bounded state', async () => {
    metrics = await startMetrics();
    await upload(metrics.client, points(4_000));
    // ~70 s on a quiet 2-core machine; over 300 s (the client's default deadline) at load 15.
    const response = await upload(metrics.client, points(1_000_000), { deadline: new Date(Date.now() + 570_000) });

    expect([response.receivedCount, response.acceptedCount, response.rejectedCount]).toEqual(['1000000', '990000', '10000']);
    expect(response.rejectedByReason).toEqual({ 'value not finite': '10000' });
    expect(response.rejected).toHaveLength(100);

    // Exact values of one series, computed here by sorting (the service never sorts).
    const block = Array.from({ length: 1000 }, (_, i) => i + 1).filter((v) => v % 100 !== 0);
    const sorted = block.flatMap((v) => Array<number>(250).fill(v));
    expect(response.series.map((s) => s.labels.s)).toEqual(['0', '1', '2', '3']);
    for (const series of response.series) {
      expect([series.count, series.min, series.max, series.mean]).toEqual(['247500', 1, 999, 500]);
      for (const [q, got] of [[0.5, series.p50], [0.95, series.p95], [0.99, series.p99]] as const) {
        const exact = exactQuantile(sorted, q);
        expect(Math.abs(got - exact)).toBeLessThanOrEqual(0.01 * exact);
      }
      // i % 1000 = 999 is also i % 100 = 99 (rejected), so the earliest accepted time is NOW - 998.
      expect([series.firstTime, series.lastTime]).toEqual([new Date(NOW_MS - 998), new Date(NOW_MS)]);
    }

    // The state of the 1,000,000-point call is the size of the 4,000-point call's.
    const finished = metrics.logs.filter((l) => l.msg === 'upload finished');
    expect(finished.map((l) => l.received)).toEqual([4_000, 1_000_000]);
    const [short, long] = finished;
    expect(long).toMatchObject({ series: 4, sketchBins: short.sketchBins, rejectedListed: 100 });
    expect(long.sketchBins).toBeLessThanOrEqual(4 * 2 * SKETCH_BIN_LIMIT);
  }, 600_000);
});
