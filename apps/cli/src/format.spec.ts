// Unit tests of the text output: tables, flights rows, orders, summaries, chat events.
import { analyticsV1, chatV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { formatChatEvent } from './chat-session.js';
import { formatError } from './errors.js';
import { delayStatsRow, flightHeader, flightLine, formatDuration, formatExpiry, formatMoney, formatOrder, formatUploadSummary, seriesName, table, topStats } from './format.js';
import { formatTourSummary } from './tour.js';
import { ConfigError } from '@grpc-patterns/config';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

const flight = analyticsV1.Flight.fromPartial({
  departureTime: '2001-03-04T22:38:00',
  delayMinutes: 423,
  distanceMiles: 679,
  origin: 'SFO',
  destination: 'SEA',
  originCity: 'San Francisco',
  destinationCity: 'Seattle',
});

describe('format', () => {
  it('pads table columns, right-aligns numbers and trims line ends', () => {
    expect(table([{ header: 'KEY' }, { header: 'N', align: 'right' }], [['SFO', '7'], ['LONGER', '1234']])).toBe(['KEY        N', 'SFO        7', 'LONGER  1234'].join('\n'));
  });

  it('prints flights with fixed widths so streamed chunks line up under one header', () => {
    expect(flightHeader()).toBe('DEPARTURE            FROM  TO    DELAY_MIN  MILES  ROUTE');
    expect(flightLine(flight)).toBe('2001-03-04T22:38:00  SFO   SEA         423    679  San Francisco -> Seattle');
    expect(flightLine({ ...flight, delayMinutes: -5 }).indexOf('-5') + 2).toBe(flightHeader().indexOf('DELAY_MIN') + 'DELAY_MIN'.length);
  });

  it('ranks delay stats and shows the delayed share', () => {
    const s = (key: string, flights: number, delayed: number, mean: number) =>
      analyticsV1.DelayStats.fromPartial({ key, flights: String(flights), delayedFlights: String(delayed), meanDelayMinutes: mean, maxDelayMinutes: 100, name: key });
    const stats = [s('SFO', 100, 30, 10), s('ORD', 300, 30, 5), s('JFK', 200, 90, 20), s('BOS', 200, 10, 1)];
    expect(topStats(stats, 'flights', 2).map((x) => x.key)).toEqual(['ORD', 'BOS']);
    expect(topStats(stats, 'mean-delay', 2).map((x) => x.key)).toEqual(['JFK', 'SFO']);
    expect(topStats(stats, 'delayed', 1).map((x) => x.key)).toEqual(['JFK']);
    expect(delayStatsRow(stats[0])).toEqual(['SFO', '100', '30', '30.0', '10.0', '100', 'SFO']);
  });

  it('formats money from int64 cent strings without floating point', () => {
    expect(formatMoney('2500', 'USD')).toBe('25.00 USD');
    expect(formatMoney('5', 'EUR')).toBe('0.05 EUR');
    expect(formatMoney('9007199254740993', 'USD')).toBe('90071992547409.93 USD');
  });

  it('formats durations and expiries', () => {
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(900_000)).toBe('15m 0s');
    expect(formatDuration(3_723_000)).toBe('1h 2m 3s');
    expect(formatExpiry(new Date('2026-01-01T00:15:00Z'), new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:15:00.000Z (in 15m 0s)');
    expect(formatExpiry(new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:30Z'))).toBe('2026-01-01T00:00:00.000Z (30s ago)');
  });

  it('prints an order with its items, total and whether it was replayed', () => {
    const order = ordersV1.Order.fromPartial({
      id: 'o1',
      requestId: 'key-00000001',
      userId: 'u1',
      items: [{ sku: 'beans', quantity: 2, unitPriceCents: '1250' }],
      totalCents: '2500',
      currency: 'USD',
      createTime: new Date('2026-01-01T00:00:00Z'),
    });
    expect(formatOrder(order, true)).toBe(
      [
        'order o1 for user u1',
        'request id (idempotency key): key-00000001',
        'created: 2026-01-01T00:00:00.000Z',
        '  SKU    QTY       UNIT',
        '  beans    2  12.50 USD',
        'total: 25.00 USD',
        'replayed: yes (idempotent-replayed: true, the order placed earlier with this key)',
      ].join('\n'),
    );
    expect(formatOrder(order, false)).toMatch(/replayed: no \(placed now\)$/);
  });

  it('prints the upload summary with series in Prometheus notation and rejections by reason', () => {
    expect(seriesName('m', { b: '2', a: 'x"y' })).toBe('m{a="x\\"y",b="2"}');
    const text = formatUploadSummary(
      metricsV1.UploadMetricsResponse.fromPartial({
        receivedCount: '3',
        acceptedCount: '2',
        rejectedCount: '1',
        series: [{ name: 'm', labels: { host: 'a' }, count: '2', min: 1, max: 3, mean: 2, p50: 1.005, p95: 2.99, p99: 2.99, firstTime: new Date(0), lastTime: new Date(1000) }],
        rejected: [{ index: '1', field: 'value', reason: 'value not finite' }],
        rejectedByReason: { 'value not finite': '1' },
      }),
    );
    expect(text.split('\n')).toEqual([
      'received 3, accepted 2, rejected 1',
      'SERIES       COUNT  MIN  P50   P95   P99  MAX  MEAN  FIRST                     LAST',
      'm{host="a"}      2    1    1  2.99  2.99    3     2  1970-01-01T00:00:00.000Z  1970-01-01T00:00:01.000Z',
      'rejected by reason:',
      '  1  value not finite',
      '  point #1: value: value not finite',
    ]);
  });

  it('prints chat events with their room sequence', () => {
    const time = new Date('2026-01-01T12:00:01Z');
    expect(formatChatEvent(chatV1.ChatResponse.fromPartial({ room: 'r', sequence: '3', time, event: { $case: 'message', message: { user: 'ann', text: 'hi' } } }))).toBe('#3 12:00:01 ann: hi');
    expect(
      formatChatEvent(
        chatV1.ChatResponse.fromPartial({ room: 'r', sequence: '4', time, event: { $case: 'presence', presence: { user: 'bob', kind: chatV1.PresenceKind.PRESENCE_KIND_LEFT, members: ['ann'] } } }),
      ),
    ).toBe('#4 12:00:01 * bob left (members: ann)');
  });

  it('formats errors as one line with the gRPC status name', () => {
    const grpcError = Object.assign(new Error('16 UNAUTHENTICATED: invalid username or password'), { code: status.UNAUTHENTICATED, details: 'invalid username or password', metadata: new Metadata() }) as ServiceError;
    expect(formatError(grpcError)).toBe('error: UNAUTHENTICATED: invalid username or password');
    expect(formatError(new ConfigError('AUTH_TARGET', 'is required but not set'))).toBe('error: config: AUTH_TARGET: is required but not set');
    expect(formatError(new Error('boom'))).toBe('error: boom');
  });

  it('summarises the tour in one table, failing if any step failed', () => {
    const step = (pattern: string, ok: boolean) => ({ pattern, shape: 'unary', ok, result: ok ? 'fine' : 'UNAVAILABLE: down', ms: 12, checks: [] });
    expect(formatTourSummary({ ok: true, steps: [step('auth', true)], ms: 20 })).toBe(['PATTERN  RPC SHAPE  RESULT    TIME_MS', 'auth     unary      ok: fine       12', 'all 1 patterns behaved as specified (20 ms)'].join('\n'));
    expect(formatTourSummary({ ok: false, steps: [step('auth', true), step('orders', false)], ms: 20 }).split('\n').slice(-2)).toEqual([
      'orders   unary      FAILED: UNAVAILABLE: down       12',
      '1 of 2 patterns FAILED (20 ms)',
    ]);
  });
});
