/**
 * Request validation: turns a StreamFlights / StreamDelayStats request into a typed query or
 * throws INVALID_ARGUMENT naming every bad field (proto field names), so handlers only ever
 * see well-formed filters.
 */
import { invalidArgument, type FieldViolation } from '@grpc-patterns/grpc-kit';
import { analyticsV1 } from '@grpc-patterns/proto';

/** Flights per StreamFlights message when the request says 0. */
export const DEFAULT_CHUNK_SIZE = 500;
/** Largest chunk_size accepted: 10 000 flights is ~1.3 MB encoded, well under gRPC's 4 MiB default. */
export const MAX_CHUNK_SIZE = 10_000;
/** Accepted progress_interval_ms when not 0, ms: often enough for a progress bar, never a flood. */
export const PROGRESS_INTERVAL_MS = { min: 100, max: 60_000 } as const;

/**
 * Row filter shared by both methods. Times are local wall-clock times expressed as if UTC
 * (the parquet column is TIMESTAMP without UTC adjustment), in ms since the epoch.
 */
export interface FlightFilter {
  origin?: string;
  destination?: string;
  /** Inclusive lower bound, ms (midnight of from_date). */
  fromMs?: number;
  /** Exclusive upper bound, ms (midnight of to_date). */
  toMs?: number;
  /** Minimum departure delay, minutes (StreamFlights only). */
  minDelayMinutes?: number;
}

/** A validated StreamFlights request. */
export interface FlightsQuery {
  filter: FlightFilter;
  chunkSize: number;
  /** Maximum flights to send; Infinity for none. */
  limit: number;
  /** Progress-only messages at most this often, ms; 0 for none. */
  progressIntervalMs: number;
}

/** Aggregation key of StreamDelayStats. */
export type GroupBy = 'origin' | 'destination' | 'route';

/** A validated StreamDelayStats request. */
export interface DelayStatsQuery {
  filter: FlightFilter;
  groupBy: GroupBy;
  window: 'month' | 'all';
  minFlights: number;
}

const IATA = /^[A-Z0-9]{3}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight of a "YYYY-MM-DD" calendar date as UTC ms, or undefined if it is not a real date. */
export function parseDate(text: string): number | undefined {
  const match = DATE.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const back = new Date(ms);
  // Date.UTC rolls 2001-02-30 over to March 2; a real date survives the round trip.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined;
  return ms;
}

interface CommonFilterFields {
  origin: string;
  destination: string;
  fromDate: string;
  toDate: string;
}

function parseCommonFilter(request: CommonFilterFields, violations: FieldViolation[]): FlightFilter {
  const filter: FlightFilter = {};
  for (const [field, value] of [
    ['origin', request.origin],
    ['destination', request.destination],
  ] as const) {
    if (value === '') continue;
    if (IATA.test(value)) filter[field] = value;
    else violations.push({ field, description: 'must be an IATA airport code of 3 upper-case letters or digits, e.g. "SFO"' });
  }
  for (const [field, value, key] of [
    ['from_date', request.fromDate, 'fromMs'],
    ['to_date', request.toDate, 'toMs'],
  ] as const) {
    if (value === '') continue;
    const ms = parseDate(value);
    if (ms === undefined) violations.push({ field, description: 'must be a calendar date "YYYY-MM-DD"' });
    else filter[key] = ms;
  }
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.toMs <= filter.fromMs) {
    violations.push({ field: 'to_date', description: 'must be after from_date' });
  }
  return filter;
}

/**
 * Validates a StreamFlights request; an unset min_delay_minutes means no delay filter, 0 on time or late.
 * @throws GrpcError INVALID_ARGUMENT naming each bad field (origin, destination, from_date, to_date,
 * chunk_size, progress_interval_ms).
 */
export function parseFlightsRequest(request: analyticsV1.StreamFlightsRequest): FlightsQuery {
  const violations: FieldViolation[] = [];
  const filter = parseCommonFilter(request, violations);
  if (request.minDelayMinutes !== undefined) filter.minDelayMinutes = request.minDelayMinutes;
  if (request.chunkSize > MAX_CHUNK_SIZE) violations.push({ field: 'chunk_size', description: `must be at most ${MAX_CHUNK_SIZE}` });
  const interval = request.progressIntervalMs;
  if (interval !== 0 && (interval < PROGRESS_INTERVAL_MS.min || interval > PROGRESS_INTERVAL_MS.max)) {
    violations.push({ field: 'progress_interval_ms', description: `must be 0 or ${PROGRESS_INTERVAL_MS.min}..${PROGRESS_INTERVAL_MS.max}` });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return {
    filter,
    chunkSize: request.chunkSize === 0 ? DEFAULT_CHUNK_SIZE : request.chunkSize,
    limit: request.limit === 0 ? Infinity : request.limit,
    progressIntervalMs: interval,
  };
}

const GROUP_BY: Partial<Record<number, GroupBy>> = {
  [analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ORIGIN]: 'origin',
  [analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_DESTINATION]: 'destination',
  [analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ROUTE]: 'route',
};

/**
 * Validates a StreamDelayStats request.
 * @throws GrpcError INVALID_ARGUMENT naming each bad field (group_by when UNSPECIFIED or unknown, window
 * when unknown, the filter fields as in {@link parseFlightsRequest}).
 */
export function parseDelayStatsRequest(request: analyticsV1.StreamDelayStatsRequest): DelayStatsQuery {
  const violations: FieldViolation[] = [];
  const groupBy = GROUP_BY[request.groupBy];
  if (!groupBy) {
    violations.push({ field: 'group_by', description: 'must be DELAY_STATS_GROUP_BY_ORIGIN, DELAY_STATS_GROUP_BY_DESTINATION or DELAY_STATS_GROUP_BY_ROUTE' });
  }
  const { DELAY_STATS_WINDOW_UNSPECIFIED, DELAY_STATS_WINDOW_MONTH, DELAY_STATS_WINDOW_ALL } = analyticsV1.DelayStatsWindow;
  let window: DelayStatsQuery['window'] = 'month';
  if (request.window === DELAY_STATS_WINDOW_ALL) window = 'all';
  else if (request.window !== DELAY_STATS_WINDOW_MONTH && request.window !== DELAY_STATS_WINDOW_UNSPECIFIED) {
    violations.push({ field: 'window', description: 'must be DELAY_STATS_WINDOW_MONTH or DELAY_STATS_WINDOW_ALL' });
  }
  const filter = parseCommonFilter(request, violations);
  if (violations.length > 0 || !groupBy) throw invalidArgument(violations);
  return { filter, groupBy, window, minFlights: request.minFlights };
}

/** True when a row passes the filter; `timeMs` is the row's local departure time as UTC ms. */
export function matchesFilter(filter: FlightFilter, timeMs: number, origin: string, destination: string, delayMinutes: number): boolean {
  return (
    (filter.fromMs === undefined || timeMs >= filter.fromMs) &&
    (filter.toMs === undefined || timeMs < filter.toMs) &&
    (filter.origin === undefined || origin === filter.origin) &&
    (filter.destination === undefined || destination === filter.destination) &&
    (filter.minDelayMinutes === undefined || delayMinutes >= filter.minDelayMinutes)
  );
}
