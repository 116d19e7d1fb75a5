/**
 * Sources of metric points for UploadMetrics, all real data read as a stream (never loaded
 * whole): a CSV or JSON-lines file, or the departure delays of flights streamed from the
 * analytics service.
 */
import { metricsV1, type analyticsV1 } from '@grpc-patterns/proto';
import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliError } from './errors.js';

/** The metric name of a flight's departure delay, Prometheus style (unit in the name). */
export const FLIGHT_DELAY_METRIC = 'flight_departure_delay_minutes';

/** File formats {@link pointsFromFile} reads. */
export type PointsFormat = 'csv' | 'jsonl';

/** The format for a file name: `.csv` → csv; `.jsonl`, `.ndjson`, `.json` → jsonl. */
export function formatOfFile(file: string): PointsFormat | undefined {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.(jsonl|ndjson|json)$/i.test(file)) return 'jsonl';
  return undefined;
}

/**
 * A time as a file gives it: an ISO 8601 string ("2001-03-01T08:00:00Z"; without an offset it
 * is read as UTC) or a number of milliseconds since the epoch. Anything else is undefined, and
 * the server then rejects the point (`time` is required) instead of the CLI guessing.
 */
export function parseTime(value: unknown): Date | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? new Date(value) : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return new Date(Number(text));
  const iso = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(text) ? `${text}Z` : text;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * A value as a file gives it. A value that is not a number is sent as NaN on purpose: the
 * server rejects that point with its reason and keeps the stream going (the pattern under
 * test), so the CLI does not filter for it.
 */
export function parseValue(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value.trim());
  return Number.NaN;
}

/** One point, every scalar set (encoding needs it). */
export function point(name: string, value: number, time: Date | undefined, labels: Record<string, string>): metricsV1.UploadMetricsRequest {
  return metricsV1.UploadMetricsRequest.fromPartial({ name, value, time, labels });
}

/**
 * Points of a CSV (RFC 4180, csv-parse) or JSON-lines file, in file order (the formats: README "Try it",
 * "Files:"); `defaultName` where a point has no name.
 * @throws CliError naming the line of a file that cannot be read as the format (missing columns, bad JSON).
 */
export async function* pointsFromFile(file: string, format: PointsFormat, defaultName: string): AsyncGenerator<metricsV1.UploadMetricsRequest> {
  if (format === 'csv') {
    const parser = createReadStream(file).pipe(parse({ columns: true, skip_empty_lines: true, trim: true }));
    let checked = false;
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      if (!checked) {
        for (const column of ['time', 'value']) {
          if (!(column in record)) throw new CliError(`${file}: the CSV header has no "${column}" column (need time,value[,name][,label columns...])`);
        }
        checked = true;
      }
      const { time, value, name, ...labels } = record;
      yield point(name || defaultName, parseValue(value), parseTime(time), labels);
    }
    return;
  }
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    let record: { time?: unknown; value?: unknown; name?: unknown; labels?: unknown };
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new CliError(`${file}:${lineNumber}: not JSON: ${(error as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new CliError(`${file}:${lineNumber}: expected a JSON object`);
    const labels: Record<string, string> = {};
    if (record.labels !== undefined) {
      if (typeof record.labels !== 'object' || record.labels === null) throw new CliError(`${file}:${lineNumber}: "labels" must be an object of strings`);
      for (const [k, v] of Object.entries(record.labels)) labels[k] = String(v);
    }
    yield point(typeof record.name === 'string' && record.name !== '' ? record.name : defaultName, parseValue(record.value), parseTime(record.time), labels);
  }
}

/**
 * Which time a flight's delay point carries: `received` (default; when the CLI received the flight) or
 * `departure` (local, read as UTC: every point is rejected as "time too old").
 * See README "Explanation: Real data only".
 */
export type FlightTimestamps = 'received' | 'departure';

/** A flight's departure delay as a point: value = delay in minutes, label `origin`. */
export function flightDelayPoint(flight: analyticsV1.Flight, timestamps: FlightTimestamps = 'received', receivedAt: Date = new Date()): metricsV1.UploadMetricsRequest {
  const time = timestamps === 'departure' ? parseTime(flight.departureTime) : receivedAt;
  return point(FLIGHT_DELAY_METRIC, flight.delayMinutes, time, { origin: flight.origin });
}
