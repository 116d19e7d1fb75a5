// UploadMetrics through the generated client against a real in-process server: summaries,
// quantile accuracy, series identity, every rejection reason, the caps, and the call's statuses.
import { expectStatus } from '@grpc-patterns/testing';
import { metricsV1 } from '@grpc-patterns/proto';
import { exactQuantile, grpc, NOW, NOW_MS, point, startMetrics, upload, type StartedMetrics } from '../test/helpers.js';
import { RejectReason } from './point-validation.js';

const DAY_MS = 86_400_000;

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Asserts `actual` is within the sketch's 1% relative accuracy of `expected`. */
function expectWithinOnePercent(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(0.01 * Math.abs(expected) + 1e-12);
}

describe('metrics.v1.MetricsService/UploadMetrics', () => {
  let metrics: StartedMetrics;
  afterEach(async () => {
    await metrics?.server.close();
  });

  it('returns exact count, min, max, mean and first/last time for known values', async () => {
    metrics = await startMetrics();
    const values = [3, -1, 0, 10, 3];
    const times = [NOW_MS - 3000, NOW_MS - 1000, NOW_MS - 5000, NOW_MS - 2000, NOW_MS - 4000];
    const response = await upload(
      metrics.client,
      values.map((value, i) => point({ name: 'http_latency_ms', value, time: new Date(times[i]), labels: { route: '/a' } })),
    );
    expect(response).toEqual(
      metricsV1.UploadMetricsResponse.fromPartial({
        receivedCount: '5',
        acceptedCount: '5',
        rejectedCount: '0',
        series: [
          {
            name: 'http_latency_ms',
            labels: { route: '/a' },
            count: '5',
            min: -1,
            max: 10,
            mean: 3,
            p50: response.series[0].p50,
            p95: response.series[0].p95,
            p99: response.series[0].p99,
            firstTime: new Date(NOW_MS - 5000),
            lastTime: new Date(NOW_MS - 1000),
          },
        ],
      }),
    );
    // Sorted: [-1, 0, 3, 3, 10]; the lower p50, p95 and p99 are all the element at index 2 or 3: 3.
    for (const q of [response.series[0].p50, response.series[0].p95, response.series[0].p99]) expectWithinOnePercent(q, 3);
  });

  it('gives p50, p95 and p99 within 1% of the exact quantiles, for negative values and zeros too', async () => {
    metrics = await startMetrics();
    const next = random(42);
    // Magnitudes over six decades; "mixed" is 30% negative and 10% zero, "negative" is mostly
    // negative (its p50 comes from the sketch's negative store), "zeros" is all zero.
    const shapes: Record<string, () => number> = {
      mixed: () => {
        const r = next();
        const magnitude = Math.exp(next() * 14 - 7);
        return r < 0.1 ? 0 : r < 0.4 ? -magnitude : magnitude;
      },
      negative: () => (next() < 0.8 ? -1 : 1) * Math.exp(next() * 14 - 7),
      zeros: () => 0,
    };
    const sent: Record<string, number[]> = { mixed: [], negative: [], zeros: [] };
    const points: metricsV1.UploadMetricsRequest[] = [];
    for (let i = 0; i < 30_003; i++) {
      const shape = Object.keys(shapes)[i % 3];
      const value = shapes[shape]();
      sent[shape].push(value);
      points.push(point({ name: 'x', value, labels: { shape } }));
    }
    const response = await upload(metrics.client, points);
    expect(response.acceptedCount).toBe('30003');
    for (const series of response.series) {
      const sorted = [...sent[series.labels.shape]].sort((a, b) => a - b);
      expect([series.count, series.min, series.max]).toEqual([String(sorted.length), sorted[0], sorted[sorted.length - 1]]);
      expect(series.mean).toBeCloseTo(sorted.reduce((s, v) => s + v, 0) / sorted.length, 9);
      expectWithinOnePercent(series.p50, exactQuantile(sorted, 0.5));
      expectWithinOnePercent(series.p95, exactQuantile(sorted, 0.95));
      expectWithinOnePercent(series.p99, exactQuantile(sorted, 0.99));
    }
    const byShape = Object.fromEntries(response.series.map((s) => [s.labels.shape, s]));
    expect(byShape.negative.p50).toBeLessThan(0);
    expect([byShape.zeros.p50, byShape.zeros.p95, byShape.zeros.p99, byShape.zeros.mean]).toEqual([0, 0, 0, 0]);
  });

  it('identifies a series by name and labels, whatever the label order; empty label values count as absent', async () => {
    metrics = await startMetrics();
    const response = await upload(metrics.client, [
      point({ name: 'a', value: 1, labels: { b: '2', a: '1' } }),
      point({ name: 'a', value: 2, labels: { a: '1', b: '2' } }),
      point({ name: 'a', value: 3, labels: { a: '1' } }),
      point({ name: 'a', value: 4, labels: { a: '1', c: '' } }),
      point({ name: 'b', value: 5, labels: { a: '1' } }),
      point({ name: 'a', value: 6, labels: {} }),
    ]);
    expect(response.series.map((s) => [s.name, s.labels, s.count, s.min, s.max])).toEqual([
      ['a', { a: '1', b: '2' }, '2', 1, 2],
      ['a', { a: '1' }, '2', 3, 4],
      ['b', { a: '1' }, '1', 5, 5],
      ['a', {}, '1', 6, 6],
    ]);
    // Labels come back sorted by name.
    expect(Object.keys(response.series[0].labels)).toEqual(['a', 'b']);
  });

  it('rejects each bad point with its index, field and reason, and accepts the boundaries', async () => {
    metrics = await startMetrics();
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, 'v']));
    const points = [
      point({ value: 1 }), // 0 ok
      point({ name: '' }), // 1
      point({ name: '1abc' }), // 2
      point({ name: 'a'.repeat(201) }), // 3
      point({ value: NaN }), // 4
      point({ value: Infinity }), // 5
      point({ value: -Infinity }), // 6
      point({ time: undefined }), // 7
      point({ time: new Date(NOW_MS - 7 * DAY_MS - 1) }), // 8
      point({ time: new Date(NOW_MS + 5 * 60_000 + 1) }), // 9
      point({ time: new Date(NOW_MS - 7 * DAY_MS) }), // 10 ok: exactly MAX_POINT_AGE_MS old
      point({ time: new Date(NOW_MS + 5 * 60_000) }), // 11 ok: exactly MAX_CLOCK_SKEW_MS ahead
      point({ labels: { '1x': 'v' } }), // 12
      point({ labels: { __name__: 'v' } }), // 13
      point({ labels: { ['a'.repeat(201)]: 'v' } }), // 14
      point({ labels: { a: 'v'.repeat(201) } }), // 15
      point({ labels: labels(33) }), // 16
      point({ labels: { ...labels(32), empty: '' }, name: 'a'.repeat(200) }), // 17 ok: 32 labels, 200 chars
      point({ name: '', value: NaN, time: undefined }), // 18: the first check (name) is reported
      point({ name: 'ns:sub_system:metric_total', value: -0 }), // 19 ok
    ];
    const response = await upload(metrics.client, points);
    expect(response.rejected).toEqual([
      { index: '1', field: 'name', reason: RejectReason.nameMissing },
      { index: '2', field: 'name', reason: RejectReason.nameInvalid },
      { index: '3', field: 'name', reason: RejectReason.nameTooLong },
      { index: '4', field: 'value', reason: RejectReason.valueNotFinite },
      { index: '5', field: 'value', reason: RejectReason.valueNotFinite },
      { index: '6', field: 'value', reason: RejectReason.valueNotFinite },
      { index: '7', field: 'time', reason: RejectReason.timeMissing },
      { index: '8', field: 'time', reason: RejectReason.timeTooOld },
      { index: '9', field: 'time', reason: RejectReason.timeInFuture },
      { index: '12', field: 'labels', reason: RejectReason.labelNameInvalid },
      { index: '13', field: 'labels', reason: RejectReason.labelNameReserved },
      { index: '14', field: 'labels', reason: RejectReason.labelNameTooLong },
      { index: '15', field: 'labels', reason: RejectReason.labelValueTooLong },
      { index: '16', field: 'labels', reason: RejectReason.tooManyLabels },
      { index: '18', field: 'name', reason: RejectReason.nameMissing },
    ]);
    expect(response.rejectedByReason).toEqual({
      'name missing': '2',
      'name invalid': '1',
      'name too long': '1',
      'value not finite': '3',
      'time missing': '1',
      'time too old': '1',
      'time in the future': '1',
      'label name invalid': '1',
      'label name reserved': '1',
      'label name too long': '1',
      'label value too long': '1',
      'too many labels': '1',
    });
    expect([response.receivedCount, response.acceptedCount, response.rejectedCount]).toEqual(['20', '5', '15']);
    const last = response.series.find((s) => s.name === 'ns:sub_system:metric_total');
    expect([last?.min, Object.is(last?.min, -0)]).toEqual([0, false]);
  });

  it('rejects a time a JavaScript Date cannot hold with "time out of range"', async () => {
    metrics = await startMetrics();
    // ts-proto cannot encode such a Timestamp, so the bytes are written by hand: field 3
    // (time) holding a Timestamp with seconds = 1e16 (Date's range ends at 8.64e12 s).
    const varint = (n: bigint) => {
      const out: number[] = [];
      while (n > 0x7fn) {
        out.push(Number(n & 0x7fn) | 0x80);
        n >>= 7n;
      }
      return [...out, Number(n)];
    };
    const timestamp = [0x08, ...varint(10n ** 16n)];
    const message = Buffer.concat([
      Buffer.from(metricsV1.UploadMetricsRequest.encode(point({ time: undefined })).finish()),
      Buffer.from([0x1a, timestamp.length, ...timestamp]),
    ]);
    const raw = new grpc.Client(metrics.server.target, grpc.credentials.createInsecure());
    const response = await new Promise<metricsV1.UploadMetricsResponse>((resolve, reject) => {
      const call = raw.makeClientStreamRequest<Buffer, metricsV1.UploadMetricsResponse>(
        '/metrics.v1.MetricsService/UploadMetrics',
        (b) => b,
        (b) => metricsV1.UploadMetricsResponse.decode(b),
        (error, res) => (error ? reject(error) : resolve(res as metricsV1.UploadMetricsResponse)),
      );
      call.write(message);
      call.end();
    });
    raw.close();
    expect(response.rejected).toEqual([{ index: '0', field: 'time', reason: RejectReason.timeOutOfRange }]);
  });

  it('lists only the first 100 rejected points but counts all of them by reason', async () => {
    metrics = await startMetrics();
    const points = Array.from({ length: 250 }, (_, i) => (i % 2 === 0 ? point({ name: '' }) : point({ value: NaN })));
    const response = await upload(metrics.client, [...points, point({ value: 1 })]);
    expect(response.rejected).toHaveLength(100);
    expect(response.rejected.map((r) => r.index)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    expect(response.rejectedByReason).toEqual({ 'name missing': '125', 'value not finite': '125' });
    expect([response.receivedCount, response.acceptedCount, response.rejectedCount]).toEqual(['251', '1', '250']);
  });

  it('caps the number of series: points of new series past MAX_SERIES are rejected with "series limit"', async () => {
    metrics = await startMetrics({ limits: { maxSeries: 2 } });
    const response = await upload(metrics.client, [
      point({ name: 'a', value: 1 }),
      point({ name: 'b', value: 2 }),
      point({ name: 'c', value: 3 }), // new series past the cap
      point({ name: 'a', value: 4 }), // existing series: still accepted
      point({ name: 'b', value: 5, labels: { x: '1' } }), // new series (labels differ)
    ]);
    expect(response.series.map((s) => [s.name, s.count])).toEqual([
      ['a', '2'],
      ['b', '1'],
    ]);
    expect(response.rejected).toEqual([
      { index: '2', field: '', reason: 'series limit' },
      { index: '4', field: '', reason: 'series limit' },
    ]);
    expect(response.rejectedByReason).toEqual({ 'series limit': '2' });
  });

  it('returns a zero summary for an empty stream', async () => {
    metrics = await startMetrics();
    const response = await upload(metrics.client, []);
    expect(response).toEqual(
      metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: '0', acceptedCount: '0', rejectedCount: '0', series: [], rejected: [], rejectedByReason: {} }),
    );
  });

  it('uses the injected clock for the time range', async () => {
    let now = NOW_MS;
    metrics = await startMetrics({ clock: () => now });
    const first = await upload(metrics.client, [point({ time: NOW })]);
    now = NOW_MS + 7 * DAY_MS + 1;
    const second = await upload(metrics.client, [point({ time: NOW })]);
    expect([first.acceptedCount, second.rejected]).toEqual(['1', [{ index: '0', field: 'time', reason: 'time too old' }]]);
  });

  it('fails the call with RESOURCE_EXHAUSTED on point MAX_POINTS_PER_CALL + 1', async () => {
    metrics = await startMetrics({ limits: { maxPointsPerCall: 5 } });
    const five = await upload(metrics.client, Array.from({ length: 5 }, () => point({ value: 1 })));
    expect(five.acceptedCount).toBe('5');

    const six = await expectStatus(upload(metrics.client, Array.from({ length: 6 }, () => point({ value: 1 }))));
    expect([six.code, six.details]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'more than 5 points in one call; split the upload']);

    // A lazy, endless client stops as soon as the call has failed.
    let pulled = 0;
    function* endless() {
      for (;;) {
        pulled++;
        yield point({ value: 1 });
      }
    }
    const failed = await expectStatus(upload(metrics.client, endless()));
    expect(failed.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(pulled).toBeLessThan(100_000);
    expect(metrics.server.logs.filter((l) => l.msg === 'unexpected error in handler')).toEqual([]);
    expect(metrics.logs.filter((l) => l.msg === 'upload failed: more than 5 points in one call; split the upload').map((l) => l.received)).toEqual([5, 5]);
  });

  it('stops reading when the client cancels or its deadline passes, and logs no error', async () => {
    metrics = await startMetrics();
    function* endless() {
      for (let i = 0; ; i++) yield point({ value: i });
    }
    const ended = () => metrics.logs.filter((l) => l.msg === 'upload cancelled' || l.msg === 'upload finished');

    const cancelled = await expectStatus(upload(metrics.client, endless(), { cancelAfter: 1000 }));
    expect(cancelled.code).toBe(grpc.status.CANCELLED);
    // The handler ends. grpc-js may deliver the client's RST_STREAM as a normal end of stream
    // (grpc/grpc-node#2583), so it logs "upload cancelled" or "upload finished": either way it
    // read at most the 1000 points written.
    await waitFor(() => ended().length === 1);
    expect(ended()[0].received).toBeLessThanOrEqual(1000);

    const late = await expectStatus(upload(metrics.client, endless(), { deadline: new Date(Date.now() + 200) }));
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The server's own deadline timer cancels the call before the stream ends: always "cancelled".
    await waitFor(() => ended().length === 2);
    expect(ended()[1].msg).toBe('upload cancelled');
    expect(metrics.server.logs.filter((l) => l.msg === 'unexpected error in handler')).toEqual([]);
  });
});

/** Polls `condition` every 10 ms; fails after 5 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
