// gzip request compression as a pattern (README "Compression"): the same upload through a TCP
// proxy that counts bytes, once plain and once with createClient({ gzip: true }). The server
// decompresses (same summary), the bytes on the wire shrink, and a message whose inflated size
// passes the server's limit is refused before it is held (hostile.spec.ts has the gzip bomb).
import { createClient } from '@grpc-patterns/grpc-kit';
import { metricsV1 } from '@grpc-patterns/proto';
import { createServer, connect, type Server, type AddressInfo } from 'node:net';
import { point, startMetrics, upload, UPLOAD_CHANNEL_OPTIONS, type StartedMetrics } from '../test/helpers.js';

/** A loopback TCP proxy to `port` that counts the bytes the client sends, for each connection. */
async function countingProxy(port: number): Promise<{ server: Server; port: number; sent: () => number }> {
  let sent = 0;
  const server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    inbound.on('data', (chunk: Buffer) => (sent += chunk.length));
    inbound.pipe(outbound).pipe(inbound);
    const close = () => (inbound.destroy(), outbound.destroy());
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sent: () => sent };
}

/** `count` points of 4 series; each point has `labels` labels with 150-character values. */
function points(count: number, labels: number): metricsV1.UploadMetricsRequest[] {
  const value = (i: number, j: number) => `europe-west1/orders-7d9c5b8f6d-x2kqp/api/v1/orders/${i % 4}/`.repeat(3).slice(0, 150 - String(j).length) + j;
  return Array.from({ length: count }, (_, i) =>
    point({ name: 'http_request_duration_ms', value: i % 97, labels: Object.fromEntries(Array.from({ length: labels }, (_, j) => [`label_${j}`, value(i, j)])) }),
  );
}

describe('gzip request compression (createClient({ gzip: true }), CLI --gzip)', () => {
  let metrics: StartedMetrics;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  afterEach(async () => {
    proxy?.server.close();
    await metrics?.server.close();
  });

  async function uploadThroughProxy(gzip: boolean, batch: metricsV1.UploadMetricsRequest[]): Promise<{ bytes: number; response: metricsV1.UploadMetricsResponse }> {
    metrics = await startMetrics();
    proxy = await countingProxy(Number(metrics.server.running.address.split(':').pop()));
    const client = createClient(metricsV1.MetricsServiceClient, `ipv4:127.0.0.1:${proxy.port}`, {
      gzip,
      defaultDeadlineMs: 120_000,
      channelOptions: { ...UPLOAD_CHANNEL_OPTIONS, 'grpc-patterns.test-channel': `compression-${gzip}` },
    });
    try {
      const response = await upload(client, batch);
      return { bytes: proxy.sent(), response };
    } finally {
      client.close();
      proxy.server.close();
      await metrics.server.close();
    }
  }

  it('large messages: fewer bytes on the wire, and the server decodes the same points', async () => {
    const batch = points(500, 32); // ~5.5 KB a point
    const plain = await uploadThroughProxy(false, batch);
    const gzipped = await uploadThroughProxy(true, batch);
    expect(plain.response.acceptedCount).toBe('500');
    expect(gzipped.response).toEqual(plain.response);
    console.log(`compression, 5.5 KB points: ${plain.bytes} bytes plain, ${gzipped.bytes} gzip (${(gzipped.bytes / plain.bytes).toFixed(2)})`);
    expect(gzipped.bytes).toBeLessThan(0.25 * plain.bytes);
  });

  it('small messages: no saving, because gRPC compresses each message on its own (why gzip is off by default)', async () => {
    const batch = Array.from({ length: 2_000 }, (_, i) =>
      point({ name: 'http_request_duration_ms', value: i % 97, labels: { route: `/api/v1/orders/${i % 4}`, region: 'europe-west1' } }),
    ); // ~90 bytes a point
    const plain = await uploadThroughProxy(false, batch);
    const gzipped = await uploadThroughProxy(true, batch);
    expect(gzipped.response).toEqual(plain.response);
    console.log(`compression, 90-byte points: ${plain.bytes} bytes plain, ${gzipped.bytes} gzip (${(gzipped.bytes / plain.bytes).toFixed(2)})`);
    expect(gzipped.bytes).toBeGreaterThan(plain.bytes);
  });
});
