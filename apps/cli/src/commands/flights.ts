/**
 * `flights`: the server-streaming pattern. One request, then chunks of rows as the server's
 * scan finds them; each chunk is printed as it arrives and the progress bar follows the
 * server's `rows_scanned` / `rows_total`.
 */
import { analyticsV1 } from '@grpc-patterns/proto';
import { Command, Option } from 'commander';
import { airportCode, integer, isoDate, UINT32_MAX } from '../args.js';
import type { Clients } from '../clients.js';
import { addCredentialOptions, authenticatedClientsFor, type CliContext } from '../context.js';
import { flightHeader, flightJson, flightLine } from '../format.js';
import { createProgress, type Progress } from '../progress.js';
import { messages } from '../streams.js';
import { plural } from './lookups.js';

/** Filters of StreamFlights as command options. */
export interface FlightFilter {
  origin?: string;
  destination?: string;
  /** First day included, YYYY-MM-DD. */
  from?: string;
  /** First day excluded, YYYY-MM-DD. */
  to?: string;
  minDelay?: number;
  chunkSize?: number;
  limit?: number;
  /** Ask for progress-only messages this often, ms (the server accepts 0 or 100..60000). */
  progressIntervalMs?: number;
}

/** How often a progress bar asks the server for a progress-only message, ms. */
export const PROGRESS_INTERVAL_MS = 250;

/** Options of `flights`. */
export interface FlightsOptions extends FlightFilter {
  json?: boolean;
  progress?: boolean;
}

/** What a flights stream delivered. */
export interface FlightsResult {
  flights: number;
  messages: number;
  rowsScanned: number;
  rowsTotal: number;
  ms: number;
}

/** The StreamFlightsRequest for a filter (every scalar set, as encoding needs). */
export function flightsRequest(filter: FlightFilter): analyticsV1.StreamFlightsRequest {
  return analyticsV1.StreamFlightsRequest.fromPartial({
    origin: filter.origin ?? '',
    destination: filter.destination ?? '',
    fromDate: filter.from ?? '',
    toDate: filter.to ?? '',
    // Unset (no --min-delay) means no delay filter: early departures are kept.
    minDelayMinutes: filter.minDelay,
    chunkSize: filter.chunkSize ?? 0,
    limit: filter.limit ?? 0,
    progressIntervalMs: filter.progressIntervalMs ?? 0,
  });
}

/**
 * Streams flights matching `filter`, handing each response message to `onMessage`, under the stream deadline.
 * @throws grpc.ServiceError INVALID_ARGUMENT (malformed filter), DEADLINE_EXCEEDED, UNAVAILABLE.
 */
export async function streamFlights(clients: Clients, filter: FlightFilter, onMessage: (m: analyticsV1.StreamFlightsResponse) => void | Promise<void>): Promise<FlightsResult> {
  const started = Date.now();
  const stream = clients.analytics.streamFlights(flightsRequest(filter), { deadline: clients.streamDeadline() });
  const result: FlightsResult = { flights: 0, messages: 0, rowsScanned: 0, rowsTotal: 0, ms: 0 };
  try {
    for await (const message of messages(stream)) {
      result.messages++;
      result.flights += message.flights.length;
      result.rowsScanned = Number(message.rowsScanned);
      result.rowsTotal = Number(message.rowsTotal);
      await onMessage(message);
    }
  } finally {
    // A consumer that stops early (an error in onMessage) must not leave the scan running.
    stream.cancel();
  }
  result.ms = Date.now() - started;
  return result;
}

/**
 * Prints the flights of `options` as a table (or JSON lines) while they stream in, then one
 * summary line (on stderr with --json, so stdout stays pure JSON lines).
 */
export async function runFlights(clients: Clients, options: FlightsOptions, ctx: CliContext): Promise<FlightsResult> {
  const showProgress = options.progress !== false && ctx.errIsTTY;
  const progress: Progress = createProgress({
    enabled: showProgress,
    stream: ctx.errStream,
    out: ctx.out,
    outIsTerminal: ctx.outIsTTY,
    label: 'flights',
  });
  let result: FlightsResult;
  try {
    // The header goes out with the first message, so a call refused at once (no token) prints only the error.
    let headed = options.json === true;
    // With a bar, ask for progress-only messages too, so it moves while matches are sparse.
    const filter = showProgress ? { ...options, progressIntervalMs: PROGRESS_INTERVAL_MS } : options;
    result = await streamFlights(clients, filter, (message) => {
      if (!headed) {
        headed = true;
        progress.log(flightHeader() + '\n');
      }
      if (message.flights.length > 0) {
        progress.log(message.flights.map((f) => (options.json ? flightJson(f) : flightLine(f))).join('\n') + '\n');
      }
      progress.update(message.rowsScanned, message.rowsTotal);
    });
  } finally {
    progress.stop();
  }
  const summary = `${plural(result.flights, 'flight')} in ${plural(result.messages, 'message')}; scanned ${result.rowsScanned} of ${result.rowsTotal} rows in ${result.ms} ms\n`;
  (options.json ? ctx.err : ctx.out).write(summary);
  return result;
}

/** Adds the StreamFlights filter options to a command. */
export function addFlightFilterOptions(command: Command): Command {
  return command
    .option('--origin <iata>', 'origin airport, e.g. SFO', airportCode)
    .option('--destination <iata>', 'destination airport', airportCode)
    .option('--from <date>', 'first departure day included, YYYY-MM-DD', isoDate)
    .option('--to <date>', 'first departure day excluded, YYYY-MM-DD', isoDate)
    .option('--min-delay <minutes>', 'only flights delayed at least this many minutes (default: every flight, early ones too)', integer(-2_147_483_648, 2_147_483_647));
}

/** The `flights` command. */
export function flightsCommand(ctx: CliContext): Command {
  const cmd = addFlightFilterOptions(new Command('flights').description('stream flights matching the filters (analytics.v1.AnalyticsService/StreamFlights, server streaming)'))
    .option('--chunk-size <n>', 'flights per message, 1..10000 (0: the server default, 500)', integer(0, 10_000))
    .option('--limit <n>', 'stop after this many flights (0: no limit)', integer(0, UINT32_MAX))
    .option('--json', 'print one JSON object per flight')
    .addOption(new Option('--no-progress', 'no progress bar (it is drawn on stderr only when stderr is a terminal)'))
    .action(async (options: FlightsOptions, command: Command) => {
      await runFlights(await authenticatedClientsFor(command, ctx), options, ctx);
    });
  return addCredentialOptions(cmd);
}
