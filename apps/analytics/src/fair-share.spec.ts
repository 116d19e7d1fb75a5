// Fair share of the scan slots, in process: a per-user limit under the global one, each
// refusal saying which limit applied (with RetryInfo), and the stall timeout that ends a stream
// whose client stopped reading and gives its slot back. The owner here comes from an `x-user`
// header (scanOwner); in the served process it is the access token's subject.
import { analyticsV1 } from '@grpc-patterns/proto';
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { collect, expectStatus } from '@grpc-patterns/testing';
import { ended, grpc, startAnalytics, until, type Analytics } from '../test/harness.js';

let analytics: Analytics;
beforeAll(async () => {
  analytics = await startAnalytics({
    maxConcurrentScans: 3,
    maxScansPerUser: 2,
    streamStallTimeoutMs: 1_500,
    scanOwner: (call) => call.metadata.get('x-user')[0]?.toString(),
  });
});
afterAll(() => analytics.close());

const as = (user: string) => {
  const md = new grpc.Metadata();
  md.set('x-user', user);
  return md;
};
const counters = () => analytics.service.counters;

/** A full scan that reads one message and pauses (its slot is held on backpressure). */
function held(user: string) {
  const call = analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 10_000 }), as(user));
  call.once('data', () => call.pause());
  call.on('error', () => undefined);
  return { call, status: ended(call) };
}

describe('scan slots per user', () => {
  it('refuses a user past MAX_SCANS_PER_USER, and anyone past MAX_CONCURRENT_SCANS, saying which', async () => {
    const a = [held('a'), held('a')];
    await until(() => counters().scansActive === 2, 'two scans of user a');
    const own = await expectStatus(collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', limit: 1 }), as('a'))));
    expect([grpc.status[own.code], own.details]).toEqual(['RESOURCE_EXHAUSTED', 'too many concurrent scans for this user (limit 2 per user); retry later']);
    expect(decodeStatusDetails(own)).toMatchObject({ retryDelayMs: 1_000, errorInfo: { reason: 'SCAN_LIMIT_PER_USER', metadata: { limit: '2', scope: 'user' } } });
    expect(own.metadata.get('grpc-retry-pushback-ms')).toEqual(['1000']);

    const b = held('b');
    await until(() => counters().scansActive === 3, 'the scan of user b');
    const full = await expectStatus(collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', limit: 1 }), as('c'))));
    expect([grpc.status[full.code], full.details]).toEqual(['RESOURCE_EXHAUSTED', 'too many concurrent scans (limit 3); retry later']);
    expect(decodeStatusDetails(full)).toMatchObject({ retryDelayMs: 1_000, errorInfo: { reason: 'SCAN_LIMIT_GLOBAL', metadata: { limit: '3', scope: 'server' } } });

    for (const s of [...a, b]) s.call.cancel();
    await until(() => counters().scansActive === 0, 'the scans to stop');
  });

  it('ends a stream whose client does not read for the stall timeout, frees its slot, and logs it', async () => {
    const stalledBefore = counters().stalledStreams;
    const s = held('d');
    await until(() => counters().stalledStreams === stalledBefore + 1, 'the stall timeout', 30_000);
    await until(() => counters().scansActive === 0, 'the slot to be freed');
    expect(analytics.logs.filter((l) => l.msg === 'scan finished').at(-1)).toMatchObject({ method: 'StreamFlights', outcome: 'RESOURCE_EXHAUSTED', user: 'd' });
    s.call.resume();
    const final = await s.status;
    expect([grpc.status[final.code], final.details]).toEqual(['RESOURCE_EXHAUSTED', 'client not reading for 1.5 s; stream ended']);
    expect(decodeStatusDetails(final.metadata)).toMatchObject({ errorInfo: { reason: 'CLIENT_NOT_READING', metadata: { stallTimeoutMs: '1500' } } });
  });

  it('does not end a stream whose client reads slowly but steadily', async () => {
    const stalledBefore = counters().stalledStreams;
    // 20 messages of 1,000 flights, one read every 200 ms (4 s in all, past the 1.5 s timeout).
    const call = analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 1_000, limit: 20_000 }), as('e'));
    call.on('error', () => undefined);
    const status = ended(call);
    let read = 0;
    call.on('data', () => {
      read++;
      call.pause();
      setTimeout(() => call.resume(), 200);
    });
    const end = new Promise((resolve) => call.on('end', resolve));
    expect((await status).code).toBe(grpc.status.OK);
    await end;
    expect([read, counters().stalledStreams - stalledBefore]).toEqual([20, 0]);
  });
});
