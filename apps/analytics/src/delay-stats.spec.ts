// StreamDelayStats against the real file: month windows arrive in order while the scan is
// still running, and every aggregate equals one computed here from an independent read.
import { analyticsV1 } from '@grpc-patterns/proto';
import { collect } from '@grpc-patterns/testing';
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { AIRPORTS_CSV, FLIGHTS_PARQUET, startAnalytics, type Analytics } from '../test/harness.js';
import { day, loadReference, type Reference } from '../test/reference.js';

const { DELAY_STATS_GROUP_BY_ORIGIN, DELAY_STATS_GROUP_BY_DESTINATION, DELAY_STATS_GROUP_BY_ROUTE } = analyticsV1.DelayStatsGroupBy;
const { DELAY_STATS_WINDOW_MONTH, DELAY_STATS_WINDOW_ALL, DELAY_STATS_WINDOW_UNSPECIFIED } = analyticsV1.DelayStatsWindow;

let ref: Reference;
let analytics: Analytics;
const airportNames = new Map(
  (parse(readFileSync(AIRPORTS_CSV, 'utf8'), { columns: true }) as Array<Record<string, string>>).map((a) => [a.iata, a.name]),
);

beforeAll(async () => {
  [ref, analytics] = await Promise.all([loadReference(FLIGHTS_PARQUET), startAnalytics()]);
});
afterAll(() => analytics.close());

function streamDelayStats(request: Partial<analyticsV1.StreamDelayStatsRequest>): Promise<analyticsV1.StreamDelayStatsResponse[]> {
  return collect(analytics.client.streamDelayStats(analyticsV1.StreamDelayStatsRequest.fromPartial(request)));
}

/** Aggregates computed the plain way: one pass, a map per window and key. */
function expectedStats(options: {
  keep: (i: number) => boolean;
  key: (i: number) => string;
  name: (i: number) => string;
  window: (i: number) => string;
  minFlights: number;
}): analyticsV1.DelayStats[] {
  const groups = new Map<string, { window: string; key: string; name: string; delays: number[] }>();
  for (let i = 0; i < ref.rows; i++) {
    if (!options.keep(i)) continue;
    const id = `${options.window(i)}|${options.key(i)}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { window: options.window(i), key: options.key(i), name: options.name(i), delays: [] }));
    g.delays.push(ref.delay[i]);
  }
  return [...groups.values()]
    .filter((g) => g.delays.length >= options.minFlights)
    .sort((a, b) => (a.window === b.window ? (a.key < b.key ? -1 : 1) : a.window < b.window ? -1 : 1))
    .map((g) => ({
      window: g.window,
      key: g.key,
      name: g.name,
      flights: String(g.delays.length),
      meanDelayMinutes: g.delays.reduce((s, d) => s + d, 0) / g.delays.length,
      maxDelayMinutes: Math.max(...g.delays),
      delayedFlights: String(g.delays.filter((d) => d >= 15).length),
    }));
}

const monthOf = (i: number) => new Date(ref.time[i]).toISOString().slice(0, 7);
/** Position of the first row at or after `ms` (the file is sorted by date; a test below checks). */
const firstRowAtOrAfter = (ms: number) => ref.time.findIndex((t) => t >= ms);

/** Mean delays compared to 10 digits, everything else exactly. */
function expectStatsEqual(actual: analyticsV1.DelayStats[], expected: analyticsV1.DelayStats[]): void {
  expect(actual.map((s) => ({ ...s, meanDelayMinutes: 0 }))).toEqual(expected.map((s) => ({ ...s, meanDelayMinutes: 0 })));
  actual.forEach((s, k) => expect(s.meanDelayMinutes).toBeCloseTo(expected[k].meanDelayMinutes, 10));
}

describe('StreamDelayStats', () => {
  it('relies on the data set being sorted by departure time, which it is', () => {
    let sorted = true;
    for (let i = 1; i < ref.rows; i++) if (ref.time[i] < ref.time[i - 1]) sorted = false;
    expect(sorted).toBe(true);
  });

  it('ORIGIN per MONTH: each month arrives, in order, as soon as the scan passes it', async () => {
    const [from, to] = [day('2001-01-01'), day('2001-04-01')];
    const expected = expectedStats({
      keep: (i) => ref.destination[i] === 'SFO' && ref.time[i] >= from && ref.time[i] < to,
      key: (i) => ref.origin[i],
      name: (i) => airportNames.get(ref.origin[i]) ?? '',
      window: monthOf,
      minFlights: 0,
    });

    const messages = await streamDelayStats({ groupBy: DELAY_STATS_GROUP_BY_ORIGIN, window: DELAY_STATS_WINDOW_MONTH, destination: 'SFO', fromDate: '2001-01-01', toDate: '2001-04-01' });

    // One message per month (each has < 1000 origins), months in order.
    expect(messages.map((m) => [...new Set(m.stats.map((s) => s.window))])).toEqual([['2001-01'], ['2001-02'], ['2001-03']]);
    expectStatsEqual(
      messages.flatMap((m) => m.stats),
      expected,
    );
    // Each month was sent when the scan reached the first row of the next month, not at the end.
    expect(messages.map((m) => Number(m.rowsScanned))).toEqual([day('2001-02-01'), day('2001-03-01'), day('2001-04-01')].map(firstRowAtOrAfter));
    expect(Number(messages[2].rowsScanned)).toBeLessThan(3_000_000);
    expect(messages.every((m) => m.rowsTotal === '3000000')).toBe(true);
    expect(messages[0].stats.find((s) => s.key === 'LAX')?.name).toBe('Los Angeles International');
  });

  it('ROUTE over the whole range (WINDOW_ALL) with min_flights, at the end of the scan', async () => {
    const [from, to] = [day('2001-05-01'), day('2001-05-15')];
    const expected = expectedStats({
      keep: (i) => ref.origin[i] === 'SFO' && ref.time[i] >= from && ref.time[i] < to,
      key: (i) => `${ref.origin[i]}-${ref.destination[i]}`,
      name: (i) => `${airportNames.get(ref.origin[i])} -> ${airportNames.get(ref.destination[i])}`,
      window: () => '',
      minFlights: 100,
    });
    expect(expected.length).toBeGreaterThan(3);

    const messages = await streamDelayStats({ groupBy: DELAY_STATS_GROUP_BY_ROUTE, window: DELAY_STATS_WINDOW_ALL, origin: 'SFO', fromDate: '2001-05-01', toDate: '2001-05-15', minFlights: 100 });

    expect(messages).toHaveLength(1);
    expect(messages[0].rowsScanned).toBe('3000000');
    expectStatsEqual(messages[0].stats, expected);
    expect(messages[0].stats.find((s) => s.key === 'SFO-LAX')?.name).toBe('San Francisco International -> Los Angeles International');
  });

  it('DESTINATION with the window left UNSPECIFIED means per month', async () => {
    const [from, to] = [day('2001-06-25'), day('2001-07-02')];
    const expected = expectedStats({
      keep: (i) => ref.origin[i] === 'ORD' && ref.time[i] >= from && ref.time[i] < to,
      key: (i) => ref.destination[i],
      name: (i) => airportNames.get(ref.destination[i]) ?? '',
      window: monthOf,
      minFlights: 20,
    });
    const messages = await streamDelayStats({ groupBy: DELAY_STATS_GROUP_BY_DESTINATION, window: DELAY_STATS_WINDOW_UNSPECIFIED, origin: 'ORD', fromDate: '2001-06-25', toDate: '2001-07-02', minFlights: 20 });
    expectStatsEqual(
      messages.flatMap((m) => m.stats),
      expected,
    );
    expect(new Set(expected.map((s) => s.window))).toEqual(new Set(['2001-06']));
  });

  it('sends one message without aggregates when nothing matches', async () => {
    const messages = await streamDelayStats({ groupBy: DELAY_STATS_GROUP_BY_ROUTE, origin: 'SFO', destination: 'SFO', fromDate: '2001-01-02', toDate: '2001-01-03' });
    expect(messages).toEqual([{ stats: [], rowsScanned: '3000000', rowsTotal: '3000000' }]);
  });
});
