/**
 * StreamDelayStats: departure-delay aggregates per origin, destination or route, per calendar
 * month or over the whole range.
 *
 * Month windows are sent as soon as they are complete. That relies on the file being sorted
 * by departure time, which it is (every row, checked; row group statistics also show each
 * group starting where the previous one ended), so the first row of a later month proves
 * the current month is over. The scan still checks the order on every row it reads and fails
 * with INTERNAL rather than send a month twice if a file ever breaks that assumption.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { analyticsV1 } from '@grpc-patterns/proto';
import type { AirportDirectory } from './airports.js';
import { send } from './flow-control.js';
import { matchesFilter, type DelayStatsQuery, type GroupBy } from './query.js';
import type { ScanContext, ScanSummary } from './scan-context.js';

type Call = ServerWritableStream<analyticsV1.StreamDelayStatsRequest, analyticsV1.StreamDelayStatsResponse>;

/** A flight is "delayed" at 15 minutes or more: the US DOT (BTS) on-time definition. */
export const DELAYED_THRESHOLD_MINUTES = 15;
/** Aggregates per message: keeps a ROUTE window (~4,000 keys) well under 4 MiB per message. */
export const MAX_STATS_PER_MESSAGE = 1_000;

interface Accumulator {
  origin: string;
  destination: string;
  flights: number;
  /** Sum of delays, minutes (an integer: exact in a double up to 2^53). */
  delaySum: number;
  maxDelay: number;
  delayed: number;
}

/** Aggregates of one window, by key. */
class WindowAggregates {
  private readonly byKey = new Map<string, Accumulator>();

  constructor(private readonly groupBy: GroupBy) {}

  add(origin: string, destination: string, delayMinutes: number): void {
    const key = this.groupBy === 'origin' ? origin : this.groupBy === 'destination' ? destination : `${origin}-${destination}`;
    let acc = this.byKey.get(key);
    if (!acc) {
      acc = { origin, destination, flights: 0, delaySum: 0, maxDelay: -Infinity, delayed: 0 };
      this.byKey.set(key, acc);
    }
    acc.flights++;
    acc.delaySum += delayMinutes;
    if (delayMinutes > acc.maxDelay) acc.maxDelay = delayMinutes;
    if (delayMinutes >= DELAYED_THRESHOLD_MINUTES) acc.delayed++;
  }

  /** The window's aggregates with at least `minFlights` flights, sorted by key. */
  results(window: string, minFlights: number, airports: AirportDirectory): analyticsV1.DelayStats[] {
    return [...this.byKey.entries()]
      .filter(([, acc]) => acc.flights >= minFlights)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, acc]) => ({
        window,
        key,
        name: this.name(acc, airports),
        flights: String(acc.flights),
        meanDelayMinutes: acc.delaySum / acc.flights,
        maxDelayMinutes: acc.maxDelay,
        delayedFlights: String(acc.delayed),
      }));
  }

  private name(acc: Accumulator, airports: AirportDirectory): string {
    if (this.groupBy === 'origin') return airports.get(acc.origin)?.name ?? '';
    if (this.groupBy === 'destination') return airports.get(acc.destination)?.name ?? '';
    const from = airports.get(acc.origin)?.name;
    const to = airports.get(acc.destination)?.name;
    return from && to ? `${from} -> ${to}` : '';
  }
}

/** "2001-01" for a local time given as UTC ms, and the first ms of the next month. */
function monthOf(timeMs: number): { label: string; endMs: number } {
  const d = new Date(timeMs);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  return { label: `${year}-${String(month + 1).padStart(2, '0')}`, endMs: Date.UTC(year, month + 1, 1) };
}

/**
 * Scans for a validated query ({@link parseDelayStatsRequest}), writing each window's aggregates once it
 * is complete (README "Explanation: Month windows while scanning"); keeps `summary` current for the log.
 * @throws GrpcError CANCELLED when the call ends mid-scan; INTERNAL (logged) for an unsorted file.
 */
export async function streamDelayStats(call: Call, query: DelayStatsQuery, signal: AbortSignal, context: ScanContext, summary: ScanSummary): Promise<void> {
  const { filter, groupBy, window, minFlights } = query;
  const { dataset, airports, counters } = context;
  const rowsTotal = String(dataset.rowsTotal);
  let aggregates = new WindowAggregates(groupBy);
  /** The open month window (WINDOW_MONTH), set by its first matching row. */
  let month: { label: string; endMs: number } | undefined;

  const emit = async (windowLabel: string, rowsScanned: number) => {
    const stats = aggregates.results(windowLabel, minFlights, airports);
    aggregates = new WindowAggregates(groupBy);
    summary.rowsScanned = rowsScanned;
    for (let i = 0; i < stats.length; i += MAX_STATS_PER_MESSAGE) {
      const part = stats.slice(i, i + MAX_STATS_PER_MESSAGE);
      summary.items += part.length;
      summary.messages++;
      await send(call, { stats: part, rowsScanned: String(rowsScanned), rowsTotal }, counters, context.stallTimeoutMs);
      signal.throwIfAborted();
    }
  };

  let previousMs = -Infinity;
  const scan = dataset.scan({ filter, columns: ['date', 'delay', 'origin', 'destination'], signal, counters, prune: context.prune });
  for await (const { rowStart, rowEnd, columns } of scan) {
    const { date, delay, origin, destination } = columns as Required<typeof columns>;
    for (let i = 0; i < rowEnd - rowStart; i++) {
      const timeMs = date[i].getTime();
      if (window === 'month') {
        if (timeMs < previousMs) throw new Error(`flights data is not sorted by date at row ${rowStart + i}: month windows cannot be streamed`);
        previousMs = timeMs;
        if (month && timeMs >= month.endMs) {
          await emit(month.label, rowStart + i);
          month = undefined;
        }
      }
      const delayMinutes = Number(delay[i]);
      if (!matchesFilter(filter, timeMs, origin[i], destination[i], delayMinutes)) continue;
      if (window === 'month') month ??= monthOf(timeMs);
      aggregates.add(origin[i], destination[i], delayMinutes);
    }
  }
  await emit(window === 'month' ? (month?.label ?? '') : '', dataset.rowsTotal);
  // A query with no aggregates still gets one message, so the client sees the scan's progress.
  if (summary.messages === 0) {
    summary.messages++;
    await send(call, { stats: [], rowsScanned: rowsTotal, rowsTotal }, counters, context.stallTimeoutMs);
  }
}
