// UploadMetrics' decode limit through a real in-process server: a point over MAX_POINT_BYTES
// ends the call with RESOURCE_EXHAUSTED before it is decoded; a point with far more labels than
// can be accepted is rejected as "too many labels" without its labels being decoded, and up to
// 4 x 32 entries the exact validation still decides.
import { expectStatus } from '@grpc-patterns/testing';
import { metricsV1 } from '@grpc-patterns/proto';
import { grpc, point, startMetrics, upload, type StartedMetrics } from '../test/helpers.js';
import { decodePoint, labelEntryLimit, undecodedLabelEntries } from './point-decoding.js';

const labels = (n: number, value = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, value]));
const encode = (p: metricsV1.UploadMetricsRequest) => Buffer.from(metricsV1.UploadMetricsRequest.encode(p).finish());

describe('decodePoint', () => {
  it('decodes a point normally up to the entry limit, and without its labels above it', () => {
    const limit = labelEntryLimit(32);
    expect(limit).toBe(128);
    const within = decodePoint(encode(point({ name: 'a', value: 2, labels: labels(128) })), limit);
    expect([Object.keys(within.labels).length, undecodedLabelEntries(within)]).toEqual([128, undefined]);
    const over = decodePoint(encode(point({ name: 'a', value: 2, labels: labels(129) })), limit);
    expect([over.name, over.value, over.labels, undecodedLabelEntries(over)]).toEqual(['a', 2, {}, 129]);
    expect(over.time).toEqual(within.time);
  });

  it('does not count entries with an empty value (they are absent labels)', () => {
    const decoded = decodePoint(encode(point({ labels: { ...labels(200, ''), a: '1' } })), 128);
    expect([undecodedLabelEntries(decoded), decoded.labels.a]).toEqual([undefined, '1']);
  });

  it('leaves malformed bytes to the generated decoder (which throws, as before)', () => {
    expect(() => decodePoint(Buffer.from([0x22, 0x05, 0x0a]), 128)).toThrow();
  });
});

describe('UploadMetrics decode limit', () => {
  let metrics: StartedMetrics;
  afterEach(async () => {
    await metrics?.server.close();
  });

  it('rejects a point with 129+ labels as "too many labels" and goes on; the name is still checked first', async () => {
    metrics = await startMetrics();
    const response = await upload(metrics.client, [point({ labels: labels(5_000) }), point({ name: '1bad', labels: labels(5_000) }), point({ value: 1 })]);
    expect(response.rejected).toEqual([
      { index: '0', field: 'labels', reason: 'too many labels' },
      { index: '1', field: 'name', reason: 'name invalid' },
    ]);
    expect([response.receivedCount, response.acceptedCount]).toEqual(['3', '1']);
  });

  it('ends the call with RESOURCE_EXHAUSTED for a point over maxPointBytes', async () => {
    metrics = await startMetrics({ limits: { maxPointBytes: 1024 } });
    const error = await expectStatus(upload(metrics.client, [point({ value: 1 }), point({ name: 'a'.repeat(2_000) })]));
    expect(grpc.status[error.code]).toBe('RESOURCE_EXHAUSTED');
    expect(error.details).toMatch(/^request message of \d+ bytes is over the limit of 1024 bytes for UploadMetrics$/);
  });
});
