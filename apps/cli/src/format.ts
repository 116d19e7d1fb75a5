/**
 * Plain-text rendering of what the services return. Pure functions (string in, string out), so
 * the output is unit-tested and the commands stay about calls.
 */
import type { analyticsV1, authV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';

/** Anything text can be written to (process.stdout, a test buffer). */
export interface Writer {
  write(chunk: string): unknown;
}

/** A Writer that keeps what was written (tests, and the tour's captured sections). */
export class BufferWriter implements Writer {
  private chunks: string[] = [];
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  text(): string {
    return this.chunks.join('');
  }
}

/** One column of {@link table}: header text, and right alignment for numbers. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/**
 * A table with a header row, columns padded to their widest cell, two spaces apart, no
 * trailing spaces. Returns the lines without a final newline.
 */
export function table(columns: Column[], rows: string[][], options: { header?: boolean } = {}): string {
  const all = options.header === false ? rows : [columns.map((c) => c.header), ...rows];
  const widths = columns.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) =>
      columns
        .map((column, i) => {
          const cell = row[i] ?? '';
          return column.align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Columns of the flights table, with fixed widths: rows are printed chunk by chunk as the
 * stream delivers them, so widths cannot depend on rows not seen yet.
 */
export const FLIGHT_COLUMNS: Array<Column & { width: number }> = [
  { header: 'DEPARTURE', width: 19 },
  { header: 'FROM', width: 4 },
  { header: 'TO', width: 4 },
  { header: 'DELAY_MIN', align: 'right', width: 9 },
  { header: 'MILES', align: 'right', width: 5 },
  { header: 'ROUTE', width: 0 },
];

function fixedLine(cells: string[], columns: Array<Column & { width: number }>): string {
  return columns
    .map((c, i) => (c.align === 'right' ? (cells[i] ?? '').padStart(c.width) : (cells[i] ?? '').padEnd(c.width)))
    .join('  ')
    .trimEnd();
}

/** The header line of the flights table. */
export function flightHeader(): string {
  return fixedLine(
    FLIGHT_COLUMNS.map((c) => c.header),
    FLIGHT_COLUMNS,
  );
}

/** One flight as a line of the flights table. */
export function flightLine(f: analyticsV1.Flight): string {
  return fixedLine(
    [f.departureTime, f.origin, f.destination, String(f.delayMinutes), String(f.distanceMiles), `${f.originCity || f.origin} -> ${f.destinationCity || f.destination}`],
    FLIGHT_COLUMNS,
  );
}

/** One flight as a JSON line (proto JSON names, as `buf curl` prints them). */
export function flightJson(f: analyticsV1.Flight): string {
  return JSON.stringify({
    departureTime: f.departureTime,
    delayMinutes: f.delayMinutes,
    distanceMiles: f.distanceMiles,
    origin: f.origin,
    destination: f.destination,
    originName: f.originName,
    destinationName: f.destinationName,
    originCity: f.originCity,
    destinationCity: f.destinationCity,
  });
}

/** Columns of a delay-stats table. */
export const DELAY_STATS_COLUMNS: Column[] = [
  { header: 'KEY' },
  { header: 'FLIGHTS', align: 'right' },
  { header: 'DELAYED', align: 'right' },
  { header: 'DELAYED%', align: 'right' },
  { header: 'MEAN_MIN', align: 'right' },
  { header: 'MAX_MIN', align: 'right' },
  { header: 'NAME' },
];

/** One aggregate as a row of {@link DELAY_STATS_COLUMNS}. */
export function delayStatsRow(s: analyticsV1.DelayStats): string[] {
  const flights = Number(s.flights);
  const delayed = Number(s.delayedFlights);
  return [s.key, s.flights, s.delayedFlights, flights > 0 ? ((100 * delayed) / flights).toFixed(1) : '-', s.meanDelayMinutes.toFixed(1), String(s.maxDelayMinutes), s.name];
}

/** How delay-stats rows are ranked for "top N". */
export type StatsOrder = 'flights' | 'mean-delay' | 'delayed';

/**
 * The first `top` aggregates by `order`, largest first; ties broken by key so the output is
 * stable.
 */
export function topStats(stats: analyticsV1.DelayStats[], order: StatsOrder, top: number): analyticsV1.DelayStats[] {
  const value = (s: analyticsV1.DelayStats) => (order === 'flights' ? Number(s.flights) : order === 'delayed' ? Number(s.delayedFlights) : s.meanDelayMinutes);
  return [...stats].sort((a, b) => value(b) - value(a) || a.key.localeCompare(b.key)).slice(0, top);
}

/** `alice (id 0f6c…, roles user)` */
export function formatUser(user: authV1.User | undefined): string {
  if (!user) return '(no user in response)';
  const name = user.displayName && user.displayName !== user.username ? `${user.username} "${user.displayName}"` : user.username;
  return `${name} (id ${user.id}, roles ${user.roles.length > 0 ? user.roles.join(',') : 'none'})`;
}

/** `2026-01-01T10:15:00.000Z (in 15m 0s)`; relative to `now`. */
export function formatExpiry(expires: Date | undefined, now: Date = new Date()): string {
  if (!expires) return '(no expiry in response)';
  const ms = expires.getTime() - now.getTime();
  return `${expires.toISOString()} (${ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`})`;
}

/** 900000 → "15m 0s"; 3723000 → "1h 2m 3s"; 1500 → "1.5s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m ${s % 60}s` : `${m}m ${s % 60}s`;
}

/** 123456 cents, "USD" → "1234.56 USD". Cents are int64 strings (ts-proto forceLong=string). */
export function formatMoney(cents: string, currency: string): string {
  const value = BigInt(cents);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')} ${currency}`;
}

/** An order, several lines: id, user, items table, total, whether it was a replay. */
export function formatOrder(order: ordersV1.Order | undefined, replayed: boolean): string {
  if (!order) return '(no order in response)';
  const items = table(
    [{ header: 'SKU' }, { header: 'QTY', align: 'right' }, { header: 'UNIT', align: 'right' }],
    order.items.map((i) => [i.sku, String(i.quantity), formatMoney(i.unitPriceCents, order.currency)]),
  );
  return [
    `order ${order.id} for user ${order.userId}`,
    `request id (idempotency key): ${order.requestId}`,
    `created: ${order.createTime ? order.createTime.toISOString() : '-'}`,
    indent(items, '  '),
    `total: ${formatMoney(order.totalCents, order.currency)}`,
    `replayed: ${replayed ? 'yes (idempotent-replayed: true, the order placed earlier with this key)' : 'no (placed now)'}`,
  ].join('\n');
}

/** `name{a="1",b="2"}`, the Prometheus text notation of a series. */
export function seriesName(name: string, labels: Record<string, string>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return pairs.length > 0 ? `${name}{${pairs.join(',')}}` : name;
}

/** A number with at most 2 decimals ("12", "12.5", "12.34"). */
export function num(value: number): string {
  return String(Number(value.toFixed(2)));
}

/** The UploadMetrics summary: counts, one table row per series, rejections by reason. */
export function formatUploadSummary(res: metricsV1.UploadMetricsResponse): string {
  const lines = [`received ${res.receivedCount}, accepted ${res.acceptedCount}, rejected ${res.rejectedCount}`];
  if (res.series.length > 0) {
    lines.push(
      table(
        [
          { header: 'SERIES' },
          { header: 'COUNT', align: 'right' },
          { header: 'MIN', align: 'right' },
          { header: 'P50', align: 'right' },
          { header: 'P95', align: 'right' },
          { header: 'P99', align: 'right' },
          { header: 'MAX', align: 'right' },
          { header: 'MEAN', align: 'right' },
          { header: 'FIRST' },
          { header: 'LAST' },
        ],
        res.series.map((s) => [
          seriesName(s.name, s.labels),
          s.count,
          num(s.min),
          num(s.p50),
          num(s.p95),
          num(s.p99),
          num(s.max),
          num(s.mean),
          s.firstTime?.toISOString() ?? '-',
          s.lastTime?.toISOString() ?? '-',
        ]),
      ),
    );
  }
  const reasons = Object.entries(res.rejectedByReason);
  if (reasons.length > 0) {
    lines.push('rejected by reason:');
    for (const [reason, count] of reasons.sort((a, b) => Number(b[1]) - Number(a[1]))) lines.push(`  ${count}  ${reason}`);
  }
  for (const r of res.rejected.slice(0, 5)) lines.push(`  point #${r.index}: ${r.field}: ${r.reason}`);
  if (res.rejected.length > 5) lines.push(`  ... ${res.rejected.length - 5} more listed in the response`);
  return lines.join('\n');
}

/** Prefixes every line of `text`. */
export function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : prefix + line))
    .join('\n');
}
