// Backpressure, cancellation and deadlines, observed through the service's counters: a slow
// reader stalls the scan instead of letting it run ahead; a cancelled or expired call stops
// reading the file.
import { analyticsV1 } from '@grpc-patterns/proto';
import { ended, grpc, settled, startAnalytics, until, type Analytics } from '../test/harness.js';

let analytics: Analytics;
beforeAll(async () => {
  analytics = await startAnalytics();
});
afterAll(() => analytics.close());

const counters = () => analytics.service.counters;

describe('flow control', () => {
  it('stops reading the file when the client cancels after the first message', async () => {
    const before = { ...counters() };
    // Month windows over the whole file: the first message (January) comes from the second
    // row group; the scan would go on through all 11 without the cancel.
    const call = analytics.client.streamDelayStats(
      analyticsV1.StreamDelayStatsRequest.fromPartial({ groupBy: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ROUTE }),
    );
    const status = ended(call);
    let decodedAtFirstMessage = -1;
    call.once('data', () => {
      decodedAtFirstMessage = counters().rowGroupsDecoded - before.rowGroupsDecoded;
      call.cancel();
    });
    call.on('error', () => undefined);
    expect((await status).code).toBe(grpc.status.CANCELLED);
    await until(() => counters().scansActive === 0, 'the scan to stop');
    const decoded = (await settled(() => counters().rowGroupsDecoded)) - before.rowGroupsDecoded;

    // Client and server share this process, so the server may have gone on to decode a row
    // group or two before the client saw the message. After the cancel, at most the row group
    // being decoded when it arrived is finished; none is started.
    expect(decodedAtFirstMessage).toBeGreaterThanOrEqual(2);
    expect(decoded).toBeLessThanOrEqual(decodedAtFirstMessage + 1);
    expect(decoded).toBeLessThan(11);
    expect(analytics.logs.filter((l) => l.msg === 'scan finished').at(-1)).toMatchObject({ method: 'StreamDelayStats', outcome: 'cancelled' });
  });

  it('stalls the scan while the client does not read (backpressure), and resumes when it does', async () => {
    const before = { ...counters() };
    // 313 messages of ~130 KB (1,000 flights) over two row groups (January 1-19).
    const call = analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ fromDate: '2001-01-01', toDate: '2001-01-20', chunkSize: 1_000 }));
    call.on('error', () => undefined);
    const status = ended(call);
    // Read one message, then stop reading. (A grpc-js client stream that has never been read
    // from does not pause its HTTP/2 stream: it buffers every message in client memory. So the
    // slow reader here reads first, as real consumers do.)
    let read = 0;
    const onData = () => {
      read++;
      call.pause();
    };
    call.on('data', onData);

    await until(() => counters().drainWaits > before.drainWaits, 'the server to wait for drain');
    const writtenWhileStalled = (await settled(() => counters().messagesWritten)) - before.messagesWritten;

    // Bounded by flow control: the server's write queue (16 messages, the stream's
    // highWaterMark), the client's read buffer (16) and the 64 KiB HTTP/2 window (< 1 message).
    // Without backpressure all 313 messages, from both row groups, would be queued by now.
    expect(read).toBe(1);
    expect(writtenWhileStalled).toBeLessThanOrEqual(16 + 16 + 2);
    expect(counters().maxPendingWrites).toBeLessThanOrEqual(16);
    expect(counters().rowGroupsDecoded - before.rowGroupsDecoded).toBe(1);
    expect(counters().scansActive).toBe(1);

    // Reading again lets the scan go on to the second row group and to the end.
    call.off('data', onData);
    call.on('data', () => read++);
    call.resume();
    expect((await status).code).toBe(grpc.status.OK);
    expect(read).toBe(counters().messagesWritten - before.messagesWritten);
    expect(read).toBeGreaterThan(300);
    expect(counters().rowGroupsDecoded - before.rowGroupsDecoded).toBe(2);
  });

  it('ends with DEADLINE_EXCEEDED when the deadline passes mid-scan, and stops reading', async () => {
    const before = { ...counters() };
    // ALL-window routes over the whole file: no message until the end, 11 row groups to read.
    const call = analytics.client.streamDelayStats(
      analyticsV1.StreamDelayStatsRequest.fromPartial({ groupBy: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ROUTE, window: analyticsV1.DelayStatsWindow.DELAY_STATS_WINDOW_ALL }),
      { deadline: Date.now() + 300 },
    );
    call.on('error', () => undefined);
    const messages: unknown[] = [];
    call.on('data', (m) => messages.push(m));
    const status = await ended(call);

    expect(grpc.status[status.code]).toBe('DEADLINE_EXCEEDED');
    await until(() => counters().scansActive === 0, 'the scan to stop');
    const decoded = (await settled(() => counters().rowGroupsDecoded)) - before.rowGroupsDecoded;
    expect(decoded).toBeLessThan(11);
    expect(messages).toHaveLength(0);
    expect(analytics.logs.filter((l) => l.msg === 'scan finished').at(-1)).toMatchObject({ method: 'StreamDelayStats', outcome: 'cancelled' });
  });

  it('ends an open scan with UNAVAILABLE on server shutdown and stops reading', async () => {
    const own = await startAnalytics();
    const call = own.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 1_000 }));
    call.on('error', () => undefined);
    const status = ended(call);
    call.once('data', () => call.pause());
    await until(() => own.service.counters.drainWaits > 0, 'the scan to wait on backpressure');

    await own.close();
    const final = await status;
    expect([grpc.status[final.code], final.details]).toEqual(['UNAVAILABLE', 'server shutting down']);
    expect(own.service.counters.scansActive).toBe(0);
    expect(own.service.counters.rowGroupsDecoded).toBe(1);
  });
});
