/** Tour step 2. analytics, server streaming (what it checks: tour.ts). */
import * as grpc from '@grpc/grpc-js';
import { analyticsV1, metricsV1 } from '@grpc-patterns/proto';
import { Clients } from './clients.js';
import { streamDelayStats, type WindowStats } from './commands/delay-stats.js';
import { PROGRESS_INTERVAL_MS, streamFlights } from './commands/flights.js';
import { plural } from './commands/lookups.js';
import { DELAY_STATS_COLUMNS, delayStatsRow, flightHeader, flightLine, indent, num, table, topStats } from './format.js';
import { flightDelayPoint } from './points.js';
import { createProgress } from './progress.js';
import { type StepTools, type TourState, TOUR_FLIGHTS, TOUR_DELAY_STATS, MISSING_TOKEN_MESSAGE, type TourOptions } from './tour-step.js';

export async function analyticsStep(clients: Clients, t: StepTools, state: TourState, options: TourOptions): Promise<string> {
  const f = TOUR_FLIGHTS;
  t.log(`StreamFlights origin=${f.origin} from=${f.from} to=${f.to} min_delay=${f.minDelay} chunk_size=${f.chunkSize}`);
  const progress = createProgress({ enabled: options.progress?.enabled ?? false, stream: options.progress?.stream, out: options.out, outIsTerminal: options.progress?.outIsTerminal ?? false, label: 'flights' });
  const flights: analyticsV1.Flight[] = [];
  const bad: string[] = [];
  let biggestChunk = 0;
  let lastScanned = 0;
  let scanOrderOk = true;
  let timeOrderOk = true;
  let total = 0;
  const points: metricsV1.UploadMetricsRequest[] = [];
  let result;
  try {
    // With a bar, progress-only messages too, so it moves while matches are sparse.
    const request = options.progress?.enabled ? { ...f, progressIntervalMs: PROGRESS_INTERVAL_MS } : f;
    result = await streamFlights(clients, request, (m) => {
      const receivedAt = new Date();
      progress.update(m.rowsScanned, m.rowsTotal);
      biggestChunk = Math.max(biggestChunk, m.flights.length);
      const scanned = Number(m.rowsScanned);
      total = Number(m.rowsTotal);
      if (scanned < lastScanned || scanned > total) scanOrderOk = false;
      lastScanned = scanned;
      for (const flight of m.flights) {
        const day = flight.departureTime.slice(0, 10);
        if (flight.origin !== f.origin || day < f.from || day >= f.to || flight.delayMinutes < f.minDelay) bad.push(`${flight.departureTime} ${flight.origin}->${flight.destination} delay ${flight.delayMinutes}`);
        const previous = flights[flights.length - 1];
        if (previous && previous.departureTime > flight.departureTime) timeOrderOk = false;
        flights.push(flight);
        points.push(flightDelayPoint(flight, 'received', receivedAt));
      }
    });
  } finally {
    progress.stop();
  }
  t.log(`${plural(result.flights, 'flight')} in ${plural(result.messages, 'message')}, scanned ${result.rowsScanned} of ${result.rowsTotal} rows, ${result.ms} ms`);
  t.check(flights.length > 0, `the query matched flights (${flights.length})`);
  t.check(bad.length === 0, `every row matches the filter (origin ${f.origin}, ${f.from} <= day < ${f.to}, delay >= ${f.minDelay})`, `${bad.length} do not, e.g. ${bad.slice(0, 3).join('; ')}`);
  t.check(biggestChunk <= f.chunkSize, `no message carries more than chunk_size=${f.chunkSize} flights (largest: ${biggestChunk})`);
  t.check(timeOrderOk, 'rows arrive in departure-time order');
  t.check(scanOrderOk && total > 0, `rows_scanned only grows and stays <= rows_total (${total})`);
  const worst = [...flights].sort((a, b) => b.delayMinutes - a.delayMinutes).slice(0, 5);
  t.log(`most delayed:\n${indent([flightHeader(), ...worst.map(flightLine)].join('\n'), '  ')}`);
  state.points = points;

  const s = TOUR_DELAY_STATS;
  t.log(`StreamDelayStats group_by=ORIGIN window=MONTH from=${s.from} to=${s.to} min_flights=${s.minFlights}`);
  const windows: WindowStats[] = [];
  const stats = await streamDelayStats(
    clients,
    {
      groupBy: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ORIGIN,
      window: analyticsV1.DelayStatsWindow.DELAY_STATS_WINDOW_MONTH,
      fromDate: s.from,
      toDate: s.to,
      minFlights: s.minFlights,
    },
    (w) => {
      windows.push(w);
      const busiest = topStats(w.stats, 'flights', 3);
      const delayed = topStats(w.stats, 'mean-delay', 3);
      t.log(`${w.window} (${w.stats.length} airports): busiest ${busiest.map((x) => `${x.key} ${x.flights}`).join(', ')}; most delayed ${delayed.map((x) => `${x.key} ${num(x.meanDelayMinutes)} min`).join(', ')}`);
    },
  );
  const labels = windows.map((w) => w.window);
  t.check(labels.length === 3 && labels.join(',') === '2001-01,2001-02,2001-03', `one window per month, in order: ${labels.join(', ')}`, 'expected 2001-01, 2001-02, 2001-03');
  const tooSmall = windows.flatMap((w) => w.stats.filter((x) => Number(x.flights) < s.minFlights || Number(x.delayedFlights) > Number(x.flights)));
  t.check(tooSmall.length === 0, `every aggregate has >= ${s.minFlights} flights and delayed <= flights`, `${tooSmall.length} do not, e.g. ${tooSmall[0]?.key}`);
  const sfoMarch = windows.find((w) => w.window === '2001-03')?.stats.find((x) => x.key === f.origin);
  t.check(
    !!sfoMarch && Number(sfoMarch.delayedFlights) >= flights.length,
    `${f.origin} 2001-03 aggregate agrees with the flights stream: ${sfoMarch?.delayedFlights} delayed >= 15 min >= ${flights.length} delayed >= ${f.minDelay} min`,
  );
  const march = windows.find((w) => w.window === '2001-03');
  if (march) t.log(`2001-03, top 5 by mean delay:\n${indent(table(DELAY_STATS_COLUMNS, topStats(march.stats, 'mean-delay', 5).map(delayStatsRow)), '  ')}`);
  const anonymous = state.anonymous;
  await t.expectCode(streamFlights(anonymous, f, () => undefined), grpc.status.UNAUTHENTICATED, 'StreamFlights without a token', MISSING_TOKEN_MESSAGE);
  return `${flights.length} flights (${result.messages} msgs) all match; ${labels.length} monthly windows in order (${stats.ms} ms); no token UNAUTHENTICATED`;
}
