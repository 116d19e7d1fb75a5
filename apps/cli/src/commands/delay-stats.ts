/**
 * `delay-stats`: server streaming where the server sends each window's aggregates as soon as
 * the window is complete, so a long scan shows results month by month instead of at the end.
 */
import { analyticsV1 } from '@grpc-patterns/proto';
import { Command, Option } from 'commander';
import { airportCode, integer, isoDate, UINT32_MAX } from '../args.js';
import type { Clients } from '../clients.js';
import { addCredentialOptions, authenticatedClientsFor, type CliContext } from '../context.js';
import { DELAY_STATS_COLUMNS, delayStatsRow, table, topStats, type StatsOrder } from '../format.js';
import { createProgress } from '../progress.js';
import { messages } from '../streams.js';
import { plural } from './lookups.js';

/** The aggregation key, as typed on the command line. */
export type GroupBy = 'origin' | 'destination' | 'route';
/** The window, as typed on the command line. */
export type Window = 'month' | 'all';

export const GROUP_BY: Record<GroupBy, analyticsV1.DelayStatsGroupBy> = {
  origin: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ORIGIN,
  destination: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_DESTINATION,
  route: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ROUTE,
};
export const WINDOW: Record<Window, analyticsV1.DelayStatsWindow> = {
  month: analyticsV1.DelayStatsWindow.DELAY_STATS_WINDOW_MONTH,
  all: analyticsV1.DelayStatsWindow.DELAY_STATS_WINDOW_ALL,
};

/** Options of `delay-stats`. */
export interface DelayStatsOptions {
  groupBy: GroupBy;
  window: Window;
  origin?: string;
  destination?: string;
  from?: string;
  to?: string;
  minFlights?: number;
  top: number;
  sort: StatsOrder;
  json?: boolean;
  progress?: boolean;
}

/** One complete window: its label ("2001-03", "" for all) and every aggregate sent for it. */
export interface WindowStats {
  window: string;
  stats: analyticsV1.DelayStats[];
}

/**
 * Streams delay aggregates, calling `onWindow` once per window when the next starts or the stream ends (a
 * window may span messages); returns the windows in arrival order and the scan position.
 * @throws grpc.ServiceError INVALID_ARGUMENT (e.g. group_by unspecified), DEADLINE_EXCEEDED ...
 */
export async function streamDelayStats(
  clients: Clients,
  request: Partial<analyticsV1.StreamDelayStatsRequest>,
  onWindow: (w: WindowStats) => void,
  onMessage: (m: analyticsV1.StreamDelayStatsResponse) => void = () => undefined,
): Promise<{ windows: WindowStats[]; messages: number; ms: number }> {
  const started = Date.now();
  const stream = clients.analytics.streamDelayStats(analyticsV1.StreamDelayStatsRequest.fromPartial(request), { deadline: clients.streamDeadline() });
  const windows: WindowStats[] = [];
  let current: WindowStats | undefined;
  let count = 0;
  try {
    for await (const message of messages(stream)) {
      count++;
      onMessage(message);
      for (const s of message.stats) {
        if (!current || current.window !== s.window) {
          if (current) onWindow(current);
          current = { window: s.window, stats: [] };
          windows.push(current);
        }
        current.stats.push(s);
      }
    }
  } finally {
    stream.cancel();
  }
  if (current) onWindow(current);
  return { windows, messages: count, ms: Date.now() - started };
}

/** The text printed for one window: a title and the top rows. */
export function formatWindow(w: WindowStats, options: { top: number; sort: StatsOrder; groupBy: GroupBy }): string {
  const title = `${w.window === '' ? 'all flights' : w.window}: ${plural(w.stats.length, options.groupBy === 'route' ? 'route' : 'airport')}, top ${Math.min(options.top, w.stats.length)} by ${options.sort}`;
  return `${title}\n${table(DELAY_STATS_COLUMNS, topStats(w.stats, options.sort, options.top).map(delayStatsRow))}\n`;
}

/** Prints each window's top rows (`--top`, ranked by `--sort`) as it arrives: a table, or JSON lines with --json. */
export async function runDelayStats(clients: Clients, options: DelayStatsOptions, ctx: CliContext): Promise<WindowStats[]> {
  const progress = createProgress({ enabled: options.progress !== false && ctx.errIsTTY, stream: ctx.errStream, out: ctx.out, outIsTerminal: ctx.outIsTTY, label: 'delay-stats' });
  try {
    const { windows, ms } = await streamDelayStats(
      clients,
      {
        groupBy: GROUP_BY[options.groupBy],
        window: WINDOW[options.window],
        origin: options.origin ?? '',
        destination: options.destination ?? '',
        fromDate: options.from ?? '',
        toDate: options.to ?? '',
        minFlights: options.minFlights ?? 0,
      },
      (w) => {
        if (options.json) progress.log(topStats(w.stats, options.sort, options.top).map((s) => JSON.stringify(analyticsV1.DelayStats.toJSON(s))).join('\n') + '\n');
        else progress.log(formatWindow(w, options) + '\n');
      },
      (m) => progress.update(m.rowsScanned, m.rowsTotal),
    );
    progress.stop();
    (options.json ? ctx.err : ctx.out).write(`${plural(windows.length, 'window')} in ${ms} ms\n`);
    return windows;
  } finally {
    progress.stop();
  }
}

/** The `delay-stats` command. */
export function delayStatsCommand(ctx: CliContext): Command {
  const cmd = new Command('delay-stats')
    .description('departure delay aggregates per window (analytics.v1.AnalyticsService/StreamDelayStats, server streaming)')
    .addOption(new Option('--group-by <key>', 'aggregation key').choices(Object.keys(GROUP_BY)).default('origin'))
    .addOption(new Option('--window <window>', 'one aggregate per month, or one over the whole range').choices(Object.keys(WINDOW)).default('month'))
    .option('--origin <iata>', 'only flights from this airport', airportCode)
    .option('--destination <iata>', 'only flights to this airport', airportCode)
    .option('--from <date>', 'first departure day included, YYYY-MM-DD', isoDate)
    .option('--to <date>', 'first departure day excluded, YYYY-MM-DD', isoDate)
    .option('--min-flights <n>', 'leave out keys with fewer flights in a window', integer(0, UINT32_MAX))
    .option('--top <n>', 'rows shown per window', integer(1, 10_000), 10)
    .addOption(new Option('--sort <order>', 'rank rows by').choices(['flights', 'mean-delay', 'delayed']).default('flights'))
    .option('--json', 'print the same rows as JSON lines (one aggregate each)')
    .addOption(new Option('--no-progress', 'no progress bar'))
    .action(async (options: DelayStatsOptions, command: Command) => {
      await runDelayStats(await authenticatedClientsFor(command, ctx), options, ctx);
    });
  return addCredentialOptions(cmd);
}
