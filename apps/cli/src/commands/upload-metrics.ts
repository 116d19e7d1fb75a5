/**
 * `upload-metrics`: the client-streaming pattern. Points are written one message each, with
 * backpressure, then the client half-closes and the server answers once with a summary.
 * Points come from real data only: a file, or flight delays streamed from analytics (a server
 * stream piped into a client stream, flow control end to end).
 */
import { metricsV1 } from '@grpc-patterns/proto';
import { Command, Option } from 'commander';
import { airportCode, integer, isoMonth, monthRange, nonEmpty } from '../args.js';
import type { Clients } from '../clients.js';
import { addCredentialOptions, authenticatedClientsFor, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatUploadSummary } from '../format.js';
import { flightDelayPoint, formatOfFile, pointsFromFile, type FlightTimestamps, type PointsFormat } from '../points.js';
import { clientStream, messages, writeAll } from '../streams.js';
import { plural } from './lookups.js';
import { flightsRequest } from './flights.js';

/** What an upload sent and got back. */
export interface UploadResult {
  response: metricsV1.UploadMetricsResponse;
  /** Points written to the stream. */
  sent: number;
  /** Smallest and largest finite value sent (to check the summary against). */
  min: number;
  max: number;
  ms: number;
}

/**
 * Uploads every point of `source` on one UploadMetrics call under the stream deadline.
 *
 * @throws grpc.ServiceError RESOURCE_EXHAUSTED (too many series), DEADLINE_EXCEEDED, UNAVAILABLE.
 */
export async function uploadPoints(clients: Clients, source: Iterable<metricsV1.UploadMetricsRequest> | AsyncIterable<metricsV1.UploadMetricsRequest>): Promise<UploadResult> {
  const started = Date.now();
  const metrics = clients.metrics;
  const { call, response } = clientStream<metricsV1.UploadMetricsRequest, metricsV1.UploadMetricsResponse>((cb) => metrics.uploadMetrics({ deadline: clients.streamDeadline() }, cb));
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  async function* observed() {
    for await (const p of source) {
      if (Number.isFinite(p.value)) {
        min = Math.min(min, p.value);
        max = Math.max(max, p.value);
      }
      yield p;
    }
  }
  let sent: number;
  try {
    sent = await writeAll(call, observed());
  } catch (error) {
    // The source failed (a bad file) or the call did (its status): either way stop the call.
    call.cancel();
    response.catch(() => undefined); // its CANCELLED is not the story; `error` is
    throw error;
  }
  return { response: await response, sent, min, max, ms: Date.now() - started };
}

/**
 * The departure delays of the flights from `origin` in `month`, streamed from analytics while
 * they are uploaded. Ends (and cancels the scan) when the consumer stops.
 */
export async function* flightDelayPoints(
  clients: Clients,
  filter: { origin: string; month: string; minDelay?: number },
  timestamps: FlightTimestamps = 'received',
): AsyncGenerator<metricsV1.UploadMetricsRequest> {
  const { from, to } = monthRange(filter.month);
  const stream = clients.analytics.streamFlights(flightsRequest({ origin: filter.origin, from, to, minDelay: filter.minDelay, chunkSize: 1000 }), {
    deadline: clients.streamDeadline(),
  });
  try {
    for await (const message of messages(stream)) for (const f of message.flights) yield flightDelayPoint(f, timestamps);
  } finally {
    stream.cancel();
  }
}

/** Options of `upload-metrics`. */
export interface UploadMetricsOptions {
  file?: string;
  format?: PointsFormat;
  name: string;
  fromFlights?: boolean;
  origin?: string;
  month?: string;
  minDelay?: number;
  timestamps?: FlightTimestamps;
  json?: boolean;
}

/** Runs the upload the options describe and prints the summary. */
export async function runUploadMetrics(clients: Clients, options: UploadMetricsOptions, ctx: Pick<CliContext, 'out'>): Promise<UploadResult> {
  let source: AsyncIterable<metricsV1.UploadMetricsRequest>;
  let what: string;
  if (options.file !== undefined) {
    if (options.fromFlights) throw new CliError('give either --file or --from-flights, not both');
    const format = options.format ?? formatOfFile(options.file);
    if (!format) throw new CliError(`cannot tell the format of ${options.file}: name it .csv or .jsonl, or pass --format`);
    source = pointsFromFile(options.file, format, options.name);
    what = `of ${options.file}`;
  } else if (options.fromFlights) {
    if (!options.origin || !options.month) throw new CliError('--from-flights needs --origin and --month');
    source = flightDelayPoints(clients, { origin: options.origin, month: options.month, minDelay: options.minDelay }, options.timestamps);
    what = `of flights from ${options.origin} in ${options.month}`;
  } else {
    throw new CliError('give --file <path> or --from-flights --origin <iata> --month <YYYY-MM>');
  }
  const result = await uploadPoints(clients, source);
  if (options.json) {
    ctx.out.write(JSON.stringify(metricsV1.UploadMetricsResponse.toJSON(result.response)) + '\n');
  } else {
    const noun = options.file !== undefined ? plural(result.sent, 'point') : plural(result.sent, 'departure delay');
    ctx.out.write(`uploaded ${noun} ${what} in ${result.ms} ms\n${formatUploadSummary(result.response)}\n`);
  }
  return result;
}

/** The `upload-metrics` command. */
export function uploadMetricsCommand(ctx: CliContext): Command {
  const cmd = new Command('upload-metrics')
    .description('upload a real series and print the summary (metrics.v1.MetricsService/UploadMetrics, client streaming)')
    .option('--file <path>', 'points file: CSV (time,value[,name][,labels...]) or JSON lines')
    .addOption(new Option('--format <format>', 'file format (default: from the extension)').choices(['csv', 'jsonl']))
    .option('--name <metric>', 'metric name for points without one', nonEmpty, 'uploaded_value')
    .option('--from-flights', 'upload the departure delays of flights streamed from analytics')
    .option('--origin <iata>', 'with --from-flights: origin airport', airportCode)
    .option('--month <YYYY-MM>', 'with --from-flights: month of departure (the data covers 2001-01..2001-06)', isoMonth)
    .option('--min-delay <minutes>', 'with --from-flights: only flights delayed at least this much', integer(-2_147_483_648, 2_147_483_647))
    .addOption(
      new Option('--timestamps <which>', 'with --from-flights: point time = when received (accepted) or the 2001 departure time (rejected as too old)')
        .choices(['received', 'departure'])
        .default('received'),
    )
    .option('--json', 'print the response as JSON')
    .action(async (options: UploadMetricsOptions, command: Command) => {
      await runUploadMetrics(await authenticatedClientsFor(command, ctx), options, ctx);
    });
  return addCredentialOptions(cmd);
}
