// Red-team finding 4 of issue 17, against the real metrics and orders processes: a message
// the service refuses must cost bounded memory. Before the per-method decode limits, 16
// concurrent uploads of a 3.8 MB point with 280,000 labels (each point rejected as "too many
// labels" only after grpc-js had decoded all of them) took metrics from ~106 MB to 1.2 GB RSS.
import { checkHealth, closeAllChannels } from '@grpc-patterns/grpc-kit';
import { googleRpc, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc, type ServiceProcess } from '@grpc-patterns/testing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type * as http2 from 'node:http2';
import { connect, frameMessage, rawCall, type RawResult } from './raw-h2.js';
import { expectAlive, rssBytes, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack, type StackUser } from './stack.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`red-team metrics suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

/** The target of issue 17: peak RSS growth of metrics over the whole bomb, bytes. */
const RSS_GROWTH_LIMIT = 100 * 1024 * 1024;
const UPLOADS = 16;
const POINTS_PER_UPLOAD = 4;
const LABELS = 280_000;
const UPLOAD = '/metrics.v1.MetricsService/UploadMetrics';
const PLACE_ORDER = '/orders.v1.OrderService/PlaceOrder';

/**
 * One UploadMetricsRequest of ~3.8 MB: a valid name, value and time, and `labels` map entries
 * written straight to the wire format (field 4, each entry { 1: key, 2: value }), so the test
 * process never builds a 280,000-key object itself.
 */
function labelBomb(labels: number): Buffer {
  const head = Buffer.from(metricsV1.UploadMetricsRequest.encode(metricsV1.UploadMetricsRequest.fromPartial({ name: 'bomb', value: 1, time: new Date() })).finish());
  const entries: Buffer[] = [head];
  for (let i = 0; i < labels; i++) {
    const key = Buffer.from(`k${String(i).padStart(6, '0')}`);
    const entry = Buffer.from([0x0a, key.length, ...key, 0x12, 0x01, 0x76]);
    entries.push(Buffer.from([0x22, entry.length]), entry);
  }
  return Buffer.concat(entries);
}

/** Peak RSS of a process since start or the last reset, bytes (Linux VmHWM). */
function peakRssBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux >= 4.0); false when not allowed. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** `grpc-status` name and message of a raw call. */
function outcome(r: RawResult): string {
  if (r.grpcStatus !== undefined) return `${grpc.status[r.grpcStatus]}: ${r.grpcMessage ?? ''}`;
  return `no status (rst ${r.rstCode}${r.error ? `, ${r.error}` : ''})`;
}

/** google.rpc.BadRequest field violations from a raw call's `grpc-status-details-bin`, if any. */
function fieldViolations(r: RawResult): Array<{ field: string; description: string }> {
  const raw = r.headers['grpc-status-details-bin'];
  if (typeof raw !== 'string') return [];
  const st = googleRpc.Status.decode(Buffer.from(raw, 'base64'));
  return st.details
    .filter((d) => d.typeUrl === 'type.googleapis.com/google.rpc.BadRequest')
    .flatMap((d) => googleRpc.BadRequest.decode(d.value).fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}

const linux = existsSync('/proc/self/status');

(run ? describe : describe.skip)('red team, finding 4: a refused message costs bounded memory', () => {
  let stack: Stack;
  let user: StackUser;
  let metrics: ServiceProcess;
  let orders: ServiceProcess;

  beforeAll(async () => {
    stack = await startStack(['metrics', 'orders']);
    metrics = stack.get('metrics');
    orders = stack.get('orders');
    user = await stack.user('redteammetrics');
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    closeAllChannels();
    await stack?.stop();
  });

  const headers = () => ({ authorization: `Bearer ${user.accessToken}` });

  (linux ? it : it.skip)('label bomb: 16 concurrent uploads of 3.8 MB points with 280k labels; RSS grows < 100 MB, health answers', async () => {
    const bomb = frameMessage(labelBomb(LABELS));
    expect(bomb.length).toBeGreaterThan(3_800_000);
    const pid = metrics.child.pid ?? 0;
    const reset = resetPeakRss(pid);
    const before = reset ? peakRssBytes(pid) : Math.max(peakRssBytes(pid), rssBytes(pid));

    // One HTTP/2 connection per upload, as 16 clients would (a single session would also hit
    // grpc-node.max_session_memory, which is not what this measures).
    const sessions: http2.ClientHttp2Session[] = await Promise.all(Array.from({ length: UPLOADS }, () => connect(metrics.port)));
    let outcomes: string[];
    let healthStatus: string;
    try {
      const uploads = sessions.map((s) => rawCall(s, UPLOAD, { headers: headers(), body: Array.from({ length: POINTS_PER_UPLOAD }, () => bomb), timeoutMs: 120_000 }));
      // Health is asked while the uploads are being received and refused.
      const health = checkHealth(metrics.target, '', 30_000).catch((error: unknown) => `failed: ${String(error)}`);
      outcomes = (await Promise.all(uploads)).map(outcome);
      healthStatus = await health;
    } finally {
      for (const s of sessions) s.close();
    }
    const grown = peakRssBytes(pid) - before;
    console.log(`metrics peak RSS under the label bomb: +${Math.round(grown / 1024 / 1024)} MB (from ${Math.round(before / 1024 / 1024)} MB${reset ? ', VmHWM reset' : ''}); outcomes: ${[...new Set(outcomes)].join(' | ')}`);
    expect(healthStatus).toBe('SERVING');
    // Refused on the first message at its length prefix (the server's receive limit is
    // MAX_POINT_BYTES), before it is buffered or decoded; never INTERNAL.
    for (const o of outcomes) expect(o).toBe(`RESOURCE_EXHAUSTED: Received message larger than max (${bomb.length - 5} vs 65536)`);
    expect({ grownMb: Math.round(grown / 1024 / 1024), underLimit: grown < RSS_GROWTH_LIMIT }).toMatchObject({ underLimit: true });
    await expectAlive(metrics);
  });

  it('a point within the byte limit with more label entries than can be valid is still rejected per point ("too many labels")', async () => {
    // 4,000 entries of 14 bytes each: ~56 KB, under the byte limit; the call is answered OK
    // with the point rejected, as before, but its labels are counted on the wire, not decoded.
    const session = await connect(metrics.port);
    try {
      const point = frameMessage(labelBomb(4_000));
      const result = await rawCall(session, UPLOAD, { headers: headers(), body: [point, point] });
      expect(outcome(result)).toBe('OK: OK');
      const response = metricsV1.UploadMetricsResponse.decode(result.data.subarray(5));
      expect([response.receivedCount, response.acceptedCount, response.rejectedByReason]).toEqual(['2', '0', { 'too many labels': '2' }]);
    } finally {
      session.close();
    }
    await expectAlive(metrics);
  });

  it('orders: PlaceOrder over its byte limit is RESOURCE_EXHAUSTED; 4,000 items are INVALID_ARGUMENT counted on the wire', async () => {
    const session = await connect(orders.port);
    try {
      const item = { sku: 'sku-1', quantity: 1, unitPriceCents: '100' };
      const encode = (items: number, sku = item.sku) =>
        Buffer.from(ordersV1.PlaceOrderRequest.encode(ordersV1.PlaceOrderRequest.fromPartial({ requestId: 'redteam-0001', userId: user.id, items: Array.from({ length: items }, () => ({ ...item, sku })) })).finish());
      // 4,000 items of 13 bytes (52 KB, under the byte limit): refused by counting field 3 on the wire.
      // 1 MiB of SKU: far past anything valid (100 items of 64 characters), under grpc's 4 MiB.
      const oversize = await rawCall(session, PLACE_ORDER, { headers: headers(), body: [frameMessage(encode(1, 'x'.repeat(1024 * 1024)))] });
      const manyItems = await rawCall(session, PLACE_ORDER, { headers: headers(), body: [frameMessage(encode(4_000))] });
      expect(outcome(oversize)).toMatch(/^RESOURCE_EXHAUSTED: request message of \d+ bytes is over the limit of 65536 bytes for PlaceOrder/);
      expect(outcome(manyItems)).toMatch(/^INVALID_ARGUMENT: items: must have 1 to 100 items \(got \d+\)$/);
      expect(fieldViolations(manyItems)).toEqual([{ field: 'items', description: expect.stringMatching(/^must have 1 to 100 items \(got \d+\)$/) }]);
    } finally {
      session.close();
    }
    await expectAlive(orders);
  });
});
