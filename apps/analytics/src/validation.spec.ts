// Every INVALID_ARGUMENT the service returns, with its exact message, plus RESOURCE_EXHAUSTED
// when all scan slots are taken. Bad requests are rejected before any row group is read.
import { analyticsV1 } from '@grpc-patterns/proto';
import { collect, expectStatus } from '@grpc-patterns/testing';
import { grpc, startAnalytics, until, type Analytics } from '../test/harness.js';

let analytics: Analytics;
beforeAll(async () => {
  analytics = await startAnalytics({ maxConcurrentScans: 1 });
});
afterAll(() => analytics.close());

const IATA = 'must be an IATA airport code of 3 upper-case letters or digits, e.g. "SFO"';
const DATE = 'must be a calendar date "YYYY-MM-DD"';

const flightsCases: Array<[string, Partial<analyticsV1.StreamFlightsRequest>, string]> = [
  ['lower-case origin', { origin: 'sfo' }, `origin: ${IATA}`],
  ['4-letter destination', { destination: 'LAXX' }, `destination: ${IATA}`],
  ['origin with a space', { origin: 'SF ' }, `origin: ${IATA}`],
  ['month 13', { fromDate: '2001-13-01' }, `from_date: ${DATE}`],
  ['February 30', { toDate: '2001-02-30' }, `to_date: ${DATE}`],
  ['US date format', { fromDate: '01/02/2001' }, `from_date: ${DATE}`],
  ['to_date equal to from_date', { fromDate: '2001-02-03', toDate: '2001-02-03' }, 'to_date: must be after from_date'],
  ['to_date before from_date', { fromDate: '2001-02-03', toDate: '2001-02-01' }, 'to_date: must be after from_date'],
  ['chunk_size too large', { chunkSize: 10_001 }, 'chunk_size: must be at most 10000'],
  ['progress_interval_ms below 100', { progressIntervalMs: 50 }, 'progress_interval_ms: must be 0 or 100..60000'],
  ['progress_interval_ms above 60000', { progressIntervalMs: 60_001 }, 'progress_interval_ms: must be 0 or 100..60000'],
  ['several fields', { origin: 'x', chunkSize: 20_000 }, `origin: ${IATA}; chunk_size: must be at most 10000`],
];

const GROUP_BY = 'must be DELAY_STATS_GROUP_BY_ORIGIN, DELAY_STATS_GROUP_BY_DESTINATION or DELAY_STATS_GROUP_BY_ROUTE';
const ORIGIN = analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ORIGIN;
const statsCases: Array<[string, Partial<analyticsV1.StreamDelayStatsRequest>, string]> = [
  ['group_by UNSPECIFIED', {}, `group_by: ${GROUP_BY}`],
  ['group_by unknown to the proto', { groupBy: 9 as analyticsV1.DelayStatsGroupBy }, `group_by: ${GROUP_BY}`],
  ['window unknown to the proto', { groupBy: ORIGIN, window: 7 as analyticsV1.DelayStatsWindow }, 'window: must be DELAY_STATS_WINDOW_MONTH or DELAY_STATS_WINDOW_ALL'],
  ['bad origin', { groupBy: ORIGIN, origin: 'S1' }, `origin: ${IATA}`],
  ['bad destination', { groupBy: ORIGIN, destination: 'lax' }, `destination: ${IATA}`],
  ['bad dates', { groupBy: ORIGIN, fromDate: '2001-1-1', toDate: '2001-01-32' }, `from_date: ${DATE}; to_date: ${DATE}`],
  ['empty range', { groupBy: ORIGIN, fromDate: '2001-03-01', toDate: '2001-02-01' }, 'to_date: must be after from_date'],
  ['group_by and a filter', { origin: 'sfo' }, `group_by: ${GROUP_BY}; origin: ${IATA}`],
];

describe('request validation', () => {
  it.each(flightsCases)('StreamFlights rejects %s', async (_name, request, message) => {
    const before = analytics.service.counters.rowGroupsDecoded;
    const error = await expectStatus(collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial(request))));
    expect([grpc.status[error.code], error.details]).toEqual(['INVALID_ARGUMENT', message]);
    expect(analytics.service.counters.rowGroupsDecoded).toBe(before);
  });

  it.each(statsCases)('StreamDelayStats rejects %s', async (_name, request, message) => {
    const before = analytics.service.counters.rowGroupsDecoded;
    const error = await expectStatus(collect(analytics.client.streamDelayStats(analyticsV1.StreamDelayStatsRequest.fromPartial(request))));
    expect([grpc.status[error.code], error.details]).toEqual(['INVALID_ARGUMENT', message]);
    expect(analytics.service.counters.rowGroupsDecoded).toBe(before);
  });

  it('answers RESOURCE_EXHAUSTED when every scan slot is taken, and INVALID_ARGUMENT still wins', async () => {
    // A client that stops reading holds its scan (and its slot) on backpressure.
    const holder = analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 10_000 }));
    holder.once('data', () => holder.pause());
    holder.on('error', () => undefined);
    await until(() => analytics.service.counters.scansActive === 1, 'the first scan to start');

    const busy = await expectStatus(collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO' }))));
    expect([grpc.status[busy.code], busy.details]).toEqual(['RESOURCE_EXHAUSTED', 'too many concurrent scans (limit 1); retry later']);
    const bad = await expectStatus(collect(analytics.client.streamDelayStats(analyticsV1.StreamDelayStatsRequest.fromPartial({}))));
    expect(grpc.status[bad.code]).toBe('INVALID_ARGUMENT');

    holder.cancel();
    await until(() => analytics.service.counters.scansActive === 0, 'the first scan to stop');
    const again = await collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', limit: 1 })));
    expect(again.flatMap((m) => m.flights)).toHaveLength(1);
  });
});
