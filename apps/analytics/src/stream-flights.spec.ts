// StreamFlights against the real 3M-row file: filters, exact chunking, limit, progress fields,
// airport names and row-group pruning, each checked against an independent full read of the
// file (test/reference.ts) rather than hard-coded numbers.
import { analyticsV1 } from '@grpc-patterns/proto';
import { collect } from '@grpc-patterns/testing';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { AIRPORTS_CSV, FLIGHTS_PARQUET, startAnalytics, type Analytics } from '../test/harness.js';
import { day, isoLocal, loadReference, positions, type Reference } from '../test/reference.js';

let ref: Reference;
let analytics: Analytics;
const airports = new Map(
  (parse(readFileSync(AIRPORTS_CSV, 'utf8'), { columns: true }) as Array<Record<string, string>>).map((a) => [a.iata, a]),
);

beforeAll(async () => {
  [ref, analytics] = await Promise.all([loadReference(FLIGHTS_PARQUET), startAnalytics()]);
});
afterAll(() => analytics.close());

function streamFlights(request: Partial<analyticsV1.StreamFlightsRequest>): Promise<analyticsV1.StreamFlightsResponse[]> {
  return collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial(request)));
}

/** The flight the service should send for row `i`. */
function expectedFlight(i: number): analyticsV1.Flight {
  const from = airports.get(ref.origin[i]);
  const to = airports.get(ref.destination[i]);
  return {
    departureTime: isoLocal(ref.time[i]),
    delayMinutes: ref.delay[i],
    distanceMiles: ref.distance[i],
    origin: ref.origin[i],
    destination: ref.destination[i],
    originName: from?.name ?? '',
    destinationName: to?.name ?? '',
    originCity: from?.city ?? '',
    destinationCity: to?.city ?? '',
  };
}

/** Chunk sizes a stream of `count` flights must have: all `size` except a shorter last one. */
function chunkSizes(count: number, size: number): number[] {
  const sizes = Array<number>(Math.floor(count / size)).fill(size);
  if (count % size > 0) sizes.push(count % size);
  return sizes;
}

describe('StreamFlights', () => {
  it('streams SFO departures in a date range in exact chunks, with names and progress', async () => {
    const from = day('2001-02-10');
    const to = day('2001-02-17');
    const expected = positions(ref, (i) => ref.origin[i] === 'SFO' && ref.time[i] >= from && ref.time[i] < to);
    expect(expected.length).toBeGreaterThan(1000);

    const messages = await streamFlights({ origin: 'SFO', fromDate: '2001-02-10', toDate: '2001-02-17', chunkSize: 100 });

    expect(messages.map((m) => m.flights.length)).toEqual(chunkSizes(expected.length, 100));
    const flights = messages.flatMap((m) => m.flights);
    for (const f of flights) {
      expect(f.origin).toBe('SFO');
      expect(f.departureTime >= '2001-02-10T00:00:00' && f.departureTime < '2001-02-17T00:00:00').toBe(true);
    }
    expect(flights).toEqual(expected.map(expectedFlight));
    expect(flights[0]).toMatchObject({ originName: 'San Francisco International', originCity: 'San Francisco' });
    expect(flights.every((f) => f.destinationName !== '' && f.destinationCity !== '')).toBe(true);
    expect(flights.find((f) => f.destination === 'LAX')).toMatchObject({ destinationName: 'Los Angeles International', destinationCity: 'Los Angeles' });

    // Progress: every message carries the total; a full chunk ends at its last flight's row.
    expect(new Set(messages.map((m) => m.rowsTotal))).toEqual(new Set(['3000000']));
    const fullChunks = messages.length - 1;
    for (let k = 0; k < fullChunks; k++) expect(Number(messages[k].rowsScanned)).toBe(expected[(k + 1) * 100 - 1] + 1);
    expect(messages[messages.length - 1].rowsScanned).toBe('3000000');
  });

  it('stops at limit exactly, without decoding further row groups', async () => {
    const expected = positions(ref, (i) => ref.origin[i] === 'SFO').slice(0, 1234);
    const decodedBefore = analytics.service.counters.rowGroupsDecoded;

    const messages = await streamFlights({ origin: 'SFO', limit: 1234 });

    expect(messages.map((m) => m.flights.length)).toEqual([500, 500, 234]);
    expect(messages.flatMap((m) => m.flights)).toEqual(expected.map(expectedFlight));
    expect(Number(messages[2].rowsScanned)).toBe(expected[1233] + 1);
    // The 1,234th SFO flight is in the first row group, so only that one was read.
    expect(expected[1233]).toBeLessThan(272_727);
    expect(analytics.service.counters.rowGroupsDecoded - decodedBefore).toBe(1);
  });

  it('uses 500 flights per message when chunk_size is 0', async () => {
    const from = day('2001-04-02');
    const to = day('2001-04-03');
    const expected = positions(ref, (i) => ref.time[i] >= from && ref.time[i] < to);
    const messages = await streamFlights({ fromDate: '2001-04-02', toDate: '2001-04-03' });
    expect(messages.map((m) => m.flights.length)).toEqual(chunkSizes(expected.length, 500));
    expect(messages.flatMap((m) => m.flights.map((f) => f.departureTime))).toEqual(expected.map((i) => isoLocal(ref.time[i])));
  });

  it('filters by destination and min_delay_minutes (positive and negative)', async () => {
    const from = day('2001-06-01');
    const to = day('2001-06-08');
    for (const minDelay of [60, -10]) {
      const expected = positions(ref, (i) => ref.destination[i] === 'JFK' && ref.delay[i] >= minDelay && ref.time[i] >= from && ref.time[i] < to);
      const messages = await streamFlights({ destination: 'JFK', minDelayMinutes: minDelay, fromDate: '2001-06-01', toDate: '2001-06-08', chunkSize: 10_000 });
      expect(messages.flatMap((m) => m.flights)).toEqual(expected.map(expectedFlight));
    }
    // -10 lets early departures through, 60 does not.
    const early = positions(ref, (i) => ref.destination[i] === 'JFK' && ref.delay[i] < 0 && ref.time[i] >= from && ref.time[i] < to);
    expect(early.length).toBeGreaterThan(0);
  });

  it('treats an unset min_delay_minutes as no filter (early departures kept) and 0 as delay >= 0', async () => {
    const from = day('2001-01-03');
    const to = day('2001-01-04');
    const expected = positions(ref, (i) => ref.origin[i] === 'BOS' && ref.time[i] >= from && ref.time[i] < to);
    const messages = await streamFlights({ origin: 'BOS', fromDate: '2001-01-03', toDate: '2001-01-04', chunkSize: 10_000 });
    const flights = messages.flatMap((m) => m.flights);
    expect(flights).toHaveLength(expected.length);
    expect(flights.some((f) => f.delayMinutes < 0)).toBe(true);
    const onTimeOrLate = (await streamFlights({ origin: 'BOS', fromDate: '2001-01-03', toDate: '2001-01-04', chunkSize: 10_000, minDelayMinutes: 0 })).flatMap((m) => m.flights);
    expect(onTimeOrLate).toHaveLength(positions(ref, (i) => ref.origin[i] === 'BOS' && ref.time[i] >= from && ref.time[i] < to && ref.delay[i] >= 0).length);
    expect(onTimeOrLate.length).toBeLessThan(flights.length);
  });

  it('sends one empty message when nothing matches, and reads no row group when statistics rule them all out', async () => {
    const decodedBefore = analytics.service.counters.rowGroupsDecoded;
    // "ZZZ" sorts after every origin's max statistic ("YAK"), so no row group can hold it.
    const messages = await streamFlights({ origin: 'ZZZ' });
    expect(messages).toEqual([{ flights: [], rowsScanned: '3000000', rowsTotal: '3000000' }]);
    expect(analytics.service.counters.rowGroupsDecoded - decodedBefore).toBe(0);
  });

  it('with progress_interval_ms, adds progress-only messages on a sparse scan: same flights, rows_scanned only grows', async () => {
    // Few matches over the whole file (no statistics can skip a row group): the bar would sit still.
    const query = { origin: 'SFO', destination: 'SEA', minDelayMinutes: 240 };
    const plain = await streamFlights(query);
    const started = performance.now();
    const withProgress = await streamFlights({ ...query, progressIntervalMs: 100 });
    const ms = performance.now() - started;
    expect(withProgress.flatMap((m) => m.flights)).toEqual(plain.flatMap((m) => m.flights));
    const scanned = withProgress.map((m) => Number(m.rowsScanned));
    expect(scanned).toEqual([...scanned].sort((a, b) => a - b));
    expect(scanned[scanned.length - 1]).toBe(3_000_000);
    const progressOnly = withProgress.slice(0, -1).filter((m) => m.flights.length === 0);
    // A scan that took three intervals has sent at least one progress-only message, part-way.
    if (ms >= 300) expect(progressOnly.length).toBeGreaterThan(0);
    for (const m of progressOnly) expect(Number(m.rowsScanned)).toBeLessThan(3_000_000);
    expect(plain.every((m, i) => i === plain.length - 1 || m.flights.length > 0)).toBe(true);
  }, 120_000);

  it('prunes row groups by date statistics: same flights, 1 row group decoded instead of 11', async () => {
    const unpruned = await startAnalytics({ pruneRowGroups: false });
    try {
      const request = { fromDate: '2001-03-10', toDate: '2001-03-12', origin: 'ORD', chunkSize: 10_000 };
      const from = day(request.fromDate);
      const to = day(request.toDate);
      const expected = positions(ref, (i) => ref.origin[i] === 'ORD' && ref.time[i] >= from && ref.time[i] < to).map(expectedFlight);

      const before = analytics.service.counters.rowGroupsDecoded;
      const pruned = await streamFlights(request);
      expect(analytics.service.counters.rowGroupsDecoded - before).toBe(1);

      const all = await collect(unpruned.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial(request)));
      expect(unpruned.service.counters.rowGroupsDecoded).toBe(11);

      expect(pruned.flatMap((m) => m.flights)).toEqual(expected);
      expect(all.flatMap((m) => m.flights)).toEqual(expected);
    } finally {
      await unpruned.close();
    }
  });
});
