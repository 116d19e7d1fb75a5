// The commands end to end in process: argv in, stdout/stderr text and exit code out, against
// real grpc-js servers (127.0.0.1:0) with small scripted implementations. They check what the
// CLI sends (every field, deadlines) and how it prints what comes back, including errors.
import { clientStreaming, GrpcError, serverStreaming, unary, writeMessage } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { NO_TOKEN_MESSAGE, type CliContext } from './context.js';
import { BufferWriter } from './format.js';
import { runCli } from './program.js';

const user = authV1.User.fromPartial({ id: 'u-1', username: 'ann', displayName: 'ann', roles: ['user'] });

function unimplemented() {
  return unary(async () => {
    throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
  });
}

const seen = {
  flightRequests: [] as analyticsV1.StreamFlightsRequest[],
  points: [] as metricsV1.UploadMetricsRequest[],
  deadlines: [] as number[],
  /** `authorization` metadata of every call, as "<method> <value or (none)>". */
  authorization: [] as string[],
};
const authorizationOf = (method: string, metadata: grpc.Metadata) => seen.authorization.push(`${method} ${metadata.get('authorization')[0] ?? '(none)'}`);

/** An (unsigned) JWT whose payload is `claims`: the CLI only reads `sub` from it; servers verify. */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'at+jwt' })}.${part(claims)}.c2ln`;
}
/** The token the commands get by default (GRPC_PATTERNS_TOKEN): user u-1's. */
const TOKEN = fakeJwt({ sub: 'u-1' });
const orders = new Map<string, ordersV1.Order>();

const authImpl: authV1.AuthServiceServer = {
  register: unary(async (call) => {
    if (call.request.username === 'ann') throw new GrpcError(grpc.status.ALREADY_EXISTS, 'username "ann" is already taken');
    return { user: { ...user, username: call.request.username, displayName: call.request.username } };
  }),
  login: unary(async (call) => {
    authorizationOf('Login', call.metadata);
    seen.deadlines.push(Number(call.getDeadline()) - Date.now()); // Infinity when the client set none
    if (call.request.password !== 'right-password') throw new GrpcError(grpc.status.UNAUTHENTICATED, 'invalid username or password');
    return { user, tokens: { accessToken: 'a.b.c', refreshToken: 'r', tokenType: 'Bearer', accessTokenExpireTime: new Date(Date.now() + 900_000) } };
  }),
  refresh: unimplemented(),
  getUser: unimplemented(),
  getPublicKeys: unimplemented(),
};

const analyticsImpl: analyticsV1.AnalyticsServiceServer = {
  streamFlights: serverStreaming(async (call) => {
    authorizationOf('StreamFlights', call.metadata);
    seen.flightRequests.push(call.request);
    const f = (time: string, delay: number) =>
      analyticsV1.Flight.fromPartial({ departureTime: time, delayMinutes: delay, distanceMiles: 679, origin: 'SFO', destination: 'SEA', originCity: 'San Francisco', destinationCity: 'Seattle' });
    await writeMessage(call, { flights: [f('2001-03-01T08:00:00', 61), f('2001-03-01T09:00:00', 75)], rowsScanned: '1000', rowsTotal: '3000' });
    await writeMessage(call, { flights: [f('2001-03-02T08:00:00', 120)], rowsScanned: '3000', rowsTotal: '3000' });
  }),
  streamDelayStats: serverStreaming(async (call) => {
    if (call.request.groupBy === analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_UNSPECIFIED) throw new GrpcError(grpc.status.INVALID_ARGUMENT, 'group_by: must be set');
    const s = (window: string, key: string, flights: number, mean: number) =>
      analyticsV1.DelayStats.fromPartial({ window, key, name: key, flights: String(flights), delayedFlights: '1', meanDelayMinutes: mean, maxDelayMinutes: 10 });
    // Month 2001-01 spans two messages: the CLI must print it once, whole.
    await writeMessage(call, { stats: [s('2001-01', 'SFO', 10, 5)], rowsScanned: '1', rowsTotal: '3' });
    await writeMessage(call, { stats: [s('2001-01', 'ORD', 30, 2), s('2001-02', 'SFO', 20, 9)], rowsScanned: '3', rowsTotal: '3' });
  }),
};

const metricsImpl: metricsV1.MetricsServiceServer = {
  uploadMetrics: clientStreaming(async (call) => {
    authorizationOf('UploadMetrics', call.metadata);
    // The array of when the call started: a cancelled upload of an earlier test may still deliver late.
    const into = seen.points;
    let received = 0;
    let rejected = 0;
    for await (const p of call as AsyncIterable<metricsV1.UploadMetricsRequest>) {
      into.push(p);
      received++;
      if (!Number.isFinite(p.value)) rejected++;
    }
    return metricsV1.UploadMetricsResponse.fromPartial({
      receivedCount: String(received),
      acceptedCount: String(received - rejected),
      rejectedCount: String(rejected),
      rejectedByReason: rejected > 0 ? { 'value not finite': String(rejected) } : {},
    });
  }),
};

const ordersImpl: ordersV1.OrderServiceServer = {
  placeOrder: unary(async (call) => {
    authorizationOf('PlaceOrder', call.metadata);
    const r = call.request;
    const existing = orders.get(r.requestId);
    const fingerprint = JSON.stringify(ordersV1.PlaceOrderRequest.toJSON(r));
    if (existing) {
      if (JSON.stringify(ordersV1.PlaceOrderRequest.toJSON({ requestId: existing.requestId, userId: existing.userId, items: existing.items, currency: '' })) !== fingerprint) {
        throw new GrpcError(grpc.status.FAILED_PRECONDITION, `request_id ${r.requestId} was already used with a different request`);
      }
      const md = new grpc.Metadata();
      md.set('idempotent-replayed', 'true');
      call.sendMetadata(md);
      return { order: existing };
    }
    const total = r.items.reduce((sum, i) => sum + BigInt(i.unitPriceCents) * BigInt(i.quantity), 0n);
    const order = ordersV1.Order.fromPartial({ id: `o-${orders.size + 1}`, requestId: r.requestId, userId: r.userId, items: r.items, totalCents: String(total), currency: 'USD', status: ordersV1.OrderStatus.ORDER_STATUS_PLACED });
    orders.set(r.requestId, order);
    return { order };
  }),
  getOrder: unimplemented(),
  listOrders: unimplemented(),
};

let server: TestServer;
let targets: string[];

beforeAll(async () => {
  server = await startTestServer({
    services: [
      { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: authImpl },
      { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analyticsImpl },
      { name: 'metrics.v1.MetricsService', definition: metricsV1.MetricsServiceService, implementation: metricsImpl },
      { name: 'orders.v1.OrderService', definition: ordersV1.OrderServiceService, implementation: ordersImpl },
    ],
  });
  targets = ['auth', 'analytics', 'metrics', 'orders'].flatMap((s) => [`--${s}-target`, server.target]);
});
afterAll(() => server.close());

/** Runs the CLI against the test server, with GRPC_PATTERNS_TOKEN set to {@link TOKEN}. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliWithEnv({ GRPC_PATTERNS_TOKEN: TOKEN }, ...argv);
}

async function cliWithEnv(env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new BufferWriter();
  const err = new BufferWriter();
  const ctx: CliContext = { out, err, env, stdin: new PassThrough(), outIsTTY: false, errIsTTY: false };
  const code = await runCli([...targets, ...argv], ctx);
  return { code, out: out.text(), err: err.text() };
}

describe('auth commands (unary)', () => {
  it('login prints the user and the token expiry, under the unary deadline', async () => {
    seen.deadlines.length = 0;
    const r = await cli('--deadline-ms', '3000', 'login', '--username', 'ann', '--password', 'right-password');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^logged in as ann \(id u-1, roles user\)\naccess token \(Bearer\) expires \d{4}-.*Z \(in 1[45]m \d+s\)\n$/);
    expect(seen.deadlines).toHaveLength(1);
    expect(seen.deadlines[0]).toBeGreaterThan(0);
    expect(seen.deadlines[0]).toBeLessThanOrEqual(3000);
  });

  it('login --json prints the response, tokens included', async () => {
    const r = await cli('login', '--username', 'ann', '--password', 'right-password', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ user: { id: 'u-1', username: 'ann' }, tokens: { accessToken: 'a.b.c', tokenType: 'Bearer' } });
  });

  it('a failed call exits 1 with the status name and message on stderr', async () => {
    expect(await cli('login', '--username', 'ann', '--password', 'wrong-password')).toEqual({ code: 1, out: '', err: 'error: UNAUTHENTICATED: invalid username or password\n' });
    expect(await cli('register', '--username', 'ann', '--password', 'whatever1')).toEqual({ code: 1, out: '', err: 'error: ALREADY_EXISTS: username "ann" is already taken\n' });
  });

  it('register prints the new user', async () => {
    expect(await cli('register', '--username', 'bob', '--password', 'whatever1')).toEqual({ code: 0, out: 'registered bob (id u-1, roles user)\n', err: '' });
  });
});

describe('access token', () => {
  beforeEach(() => {
    seen.authorization.length = 0;
  });
  // The order tests below count orders from o-1.
  afterAll(() => orders.clear());

  it('login --print-token prints only the access token, for export GRPC_PATTERNS_TOKEN=$(...)', async () => {
    expect(await cliWithEnv({}, 'login', '--username', 'ann', '--password', 'right-password', '--print-token')).toEqual({ code: 0, out: 'a.b.c\n', err: '' });
    expect(seen.authorization).toEqual(['Login (none)']);
  });

  it('--print-token and --json exclude each other', async () => {
    const r = await cliWithEnv({}, 'login', '--username', 'ann', '--password', 'right-password', '--print-token', '--json');
    expect(r).toEqual({ code: 1, out: '', err: "error: option '--json' cannot be used with option '--print-token'\n" });
    expect(seen.authorization).toEqual([]);
  });

  it('every call of a command carries "authorization: Bearer <token>" from GRPC_PATTERNS_TOKEN', async () => {
    expect((await cli('flights')).code).toBe(0);
    expect((await cli('upload-metrics', '--from-flights', '--origin', 'SFO', '--month', '2001-03')).code).toBe(0);
    expect((await cli('order', '--sku', 'beans', '--price-cents', '1')).code).toBe(0);
    // upload-metrics opens the upload first, then the flights stream that feeds it.
    expect(seen.authorization).toEqual([`StreamFlights Bearer ${TOKEN}`, `UploadMetrics Bearer ${TOKEN}`, `StreamFlights Bearer ${TOKEN}`, `PlaceOrder Bearer ${TOKEN}`]);
  });

  it('--token wins over GRPC_PATTERNS_TOKEN, before or after the command name', async () => {
    expect((await cli('--token', 'from-option', 'flights')).code).toBe(0);
    expect((await cli('flights', '--token', 'after-command')).code).toBe(0);
    expect(seen.authorization).toEqual(['StreamFlights Bearer from-option', 'StreamFlights Bearer after-command']);
  });

  it('a command that needs a token and has none fails before any call, with one line saying how to get one', async () => {
    const commands = [
      ['flights'],
      ['delay-stats'],
      ['upload-metrics', '--from-flights', '--origin', 'SFO', '--month', '2001-03'],
      ['chat', '--room', 'lobby', '--user', 'ann'],
      ['order', '--user-id', 'u-1', '--sku', 'beans', '--price-cents', '1'],
    ];
    for (const argv of commands) {
      expect(await cliWithEnv({}, ...argv)).toEqual({ code: 1, out: '', err: `error: ${NO_TOKEN_MESSAGE}\n` });
      expect(await cliWithEnv({ GRPC_PATTERNS_TOKEN: '' }, ...argv)).toEqual({ code: 1, out: '', err: `error: ${NO_TOKEN_MESSAGE}\n` });
    }
    expect(NO_TOKEN_MESSAGE).toBe(
      'no access token: run `export GRPC_PATTERNS_TOKEN=$(grpc-patterns login --username <name> --print-token)`, or pass --token <jwt>, or --username <name> --password <password> to log in first',
    );
    expect(seen.authorization).toEqual([]);
  });

  it('--username/--password on a command log in first and send the token Login returned', async () => {
    const r = await cliWithEnv({}, 'order', '--username', 'ann', '--password', 'right-password', '--sku', 'beans', '--price-cents', '1', '--json');
    expect(r.code).toBe(0);
    // Login itself goes without a token; the order is for the user Login named (u-1).
    expect(seen.authorization).toEqual(['Login (none)', 'PlaceOrder Bearer a.b.c']);
    expect(JSON.parse(r.out).order.userId).toBe('u-1');
    // The password may come from GRPC_PATTERNS_PASSWORD; an explicit --username beats GRPC_PATTERNS_TOKEN.
    expect((await cliWithEnv({ GRPC_PATTERNS_PASSWORD: 'right-password', GRPC_PATTERNS_TOKEN: TOKEN }, 'flights', '--username', 'ann')).code).toBe(0);
    expect(seen.authorization.slice(2)).toEqual(['Login (none)', 'StreamFlights Bearer a.b.c']);
  });

  it('a wrong password, or credentials given twice or half, fail before the command call', async () => {
    expect(await cliWithEnv({}, 'flights', '--username', 'ann', '--password', 'wrong-password')).toEqual({ code: 1, out: '', err: 'error: UNAUTHENTICATED: invalid username or password\n' });
    expect(await cliWithEnv({}, '--token', TOKEN, 'flights', '--username', 'ann', '--password', 'right-password')).toEqual({
      code: 1,
      out: '',
      err: 'error: give either --token or --username/--password, not both\n',
    });
    expect(await cliWithEnv({}, 'flights', '--username', 'ann')).toEqual({ code: 1, out: '', err: 'error: --username needs --password (or GRPC_PATTERNS_PASSWORD; on a terminal it is asked for)\n' });
    expect(await cliWithEnv({}, 'flights', '--password', 'right-password')).toEqual({ code: 1, out: '', err: 'error: --password needs --username\n' });
    expect(seen.authorization).toEqual(['Login (none)']);
  });

  it('order without --user-id orders for the token\'s user (sub), and says so when the token names none', async () => {
    const r = await cliWithEnv({ GRPC_PATTERNS_TOKEN: fakeJwt({ sub: 'u-7' }) }, 'order', '--sku', 'beans', '--price-cents', '1', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).order.userId).toBe('u-7');
    expect(await cliWithEnv({ GRPC_PATTERNS_TOKEN: 'opaque-token' }, 'order', '--sku', 'beans', '--price-cents', '1')).toEqual({
      code: 1,
      out: '',
      err: 'error: no --user-id given and the access token names no user (sub): pass --user-id\n',
    });
  });
});

describe('usage and configuration errors', () => {
  it('a missing required option is reported by commander before any call', async () => {
    const r = await cli('order', '--user-id', 'u-1', '--sku', 'beans');
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: required option '--price-cents <n>' not specified\n");
  });

  it('a malformed option value names the option and the rule', async () => {
    const r = await cli('flights', '--chunk-size', '20000');
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: option '--chunk-size <n>' argument '20000' is invalid. must be a whole number from 0 to 10000\n");
  });

  it('a bad target stops with one line and exit code 78 (EX_CONFIG)', async () => {
    const out = new BufferWriter();
    const err = new BufferWriter();
    const code = await runCli(['login', '--username', 'a', '--password', 'b'], { out, err, env: { AUTH_TARGET: 'no such target' }, stdin: new PassThrough(), outIsTTY: false, errIsTTY: false });
    expect(code).toBe(78);
    expect(err.text()).toBe('error: config: AUTH_TARGET: must be a gRPC target URI such as ipv4:127.0.0.1:50051, dns:///auth:50051 or host:port (got "no such target")\n');
  });

  it('nothing listening gives UNAVAILABLE, not a crash', async () => {
    const out = new BufferWriter();
    const err = new BufferWriter();
    const code = await runCli(['--auth-target', 'ipv4:127.0.0.1:1', 'login', '--username', 'a', '--password', 'b'], { out, err, env: {}, stdin: new PassThrough(), outIsTTY: false, errIsTTY: false });
    expect(code).toBe(1);
    expect(err.text()).toMatch(/^error: UNAVAILABLE: /);
  });
});

describe('flights and delay-stats (server streaming)', () => {
  it('sends every filter field and prints the rows of each chunk under one header', async () => {
    seen.flightRequests.length = 0;
    const r = await cli('flights', '--origin', 'sfo', '--destination', 'sea', '--from', '2001-03-01', '--to', '2001-04-01', '--min-delay', '60', '--chunk-size', '2', '--limit', '3');
    expect(seen.flightRequests).toEqual([{ origin: 'SFO', destination: 'SEA', fromDate: '2001-03-01', toDate: '2001-04-01', minDelayMinutes: 60, chunkSize: 2, limit: 3, progressIntervalMs: 0 }]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'DEPARTURE            FROM  TO    DELAY_MIN  MILES  ROUTE',
      '2001-03-01T08:00:00  SFO   SEA          61    679  San Francisco -> Seattle',
      '2001-03-01T09:00:00  SFO   SEA          75    679  San Francisco -> Seattle',
      '2001-03-02T08:00:00  SFO   SEA         120    679  San Francisco -> Seattle',
      expect.stringMatching(/^3 flights in 2 messages; scanned 3000 of 3000 rows in \d+ ms$/),
      '',
    ]);
  });

  it('without --min-delay asks for every flight (early ones too), and --json keeps stdout to JSON lines', async () => {
    seen.flightRequests.length = 0;
    const r = await cli('flights', '--json');
    expect(seen.flightRequests[0].minDelayMinutes).toBeUndefined();
    const lines = r.out.trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).delayMinutes)).toEqual([61, 75, 120]);
    expect(r.err).toMatch(/^3 flights in 2 messages/);
  });

  it('delay-stats prints each window once, whole, even when it spans messages', async () => {
    const r = await cli('delay-stats', '--group-by', 'origin', '--window', 'month', '--top', '5');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      '2001-01: 2 airports, top 2 by flights',
      'KEY  FLIGHTS  DELAYED  DELAYED%  MEAN_MIN  MAX_MIN  NAME',
      'ORD       30        1       3.3       2.0       10  ORD',
      'SFO       10        1      10.0       5.0       10  SFO',
      '',
      '2001-02: 1 airport, top 1 by flights',
      'KEY  FLIGHTS  DELAYED  DELAYED%  MEAN_MIN  MAX_MIN  NAME',
      'SFO       20        1       5.0       9.0       10  SFO',
      '',
      expect.stringMatching(/^2 windows in \d+ ms$/),
      '',
    ]);
  });

  it('delay-stats --json prints the rows --top and --sort choose, as JSON lines', async () => {
    const r = await cli('delay-stats', '--group-by', 'origin', '--window', 'month', '--top', '1', '--sort', 'mean-delay', '--json');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').map((l) => { const s = JSON.parse(l); return [s.window, s.key]; })).toEqual([['2001-01', 'SFO'], ['2001-02', 'SFO']]);
    expect(r.err).toMatch(/^2 windows in \d+ ms$/m);
  });

  it('rejects an unknown --group-by before calling', async () => {
    const r = await cli('delay-stats', '--group-by', 'airline');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: option '--group-by <key>' argument 'airline' is invalid. Allowed choices are origin, destination, route./);
  });
});

describe('upload-metrics (client streaming)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-points-'));

  it('streams every point of a CSV file: extra columns become labels, bad values go to the server as NaN', async () => {
    seen.points = [];
    const file = join(dir, 'points.csv');
    writeFileSync(file, 'time,value,host\n2026-01-01T00:00:00Z,1.5,a\n2026-01-01T00:00:01Z,abc,a\n1767225602000,3,b\n');
    const r = await cli('upload-metrics', '--file', file, '--name', 'cpu_seconds');
    expect(r.code).toBe(0);
    expect(seen.points.map((p) => [p.name, p.value, p.time?.toISOString(), p.labels])).toEqual([
      ['cpu_seconds', 1.5, '2026-01-01T00:00:00.000Z', { host: 'a' }],
      ['cpu_seconds', Number.NaN, '2026-01-01T00:00:01.000Z', { host: 'a' }],
      ['cpu_seconds', 3, '2026-01-01T00:00:02.000Z', { host: 'b' }],
    ]);
    expect(r.out).toMatch(/^uploaded 3 points of .*points\.csv in \d+ ms\nreceived 3, accepted 2, rejected 1\nrejected by reason:\n {2}1 {2}value not finite\n$/);
  });

  it('--gzip compresses what it sends: the server gets the same points over fewer bytes', async () => {
    const file = join(dir, 'wide.jsonl');
    const labels = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`label_${i}`, `europe-west1/orders-7d9c5b8f6d-x2kqp/${i}`.repeat(4)]));
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => JSON.stringify({ name: 'wide', time: '2026-01-01T00:00:00Z', value: i, labels })).join('\n'));
    // A loopback proxy in front of the test server counts the bytes the CLI sends.
    let sent = 0;
    const proxy = createServer((inbound) => {
      const outbound = connect(Number(server.target.split(':').pop()), '127.0.0.1');
      inbound.on('data', (chunk: Buffer) => (sent += chunk.length)).on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const via = ['--metrics-target', `ipv4:127.0.0.1:${(proxy.address() as AddressInfo).port}`];
    try {
      const bytes: number[] = [];
      for (const flags of [[], ['--gzip']]) {
        seen.points = [];
        sent = 0;
        expect((await cli(...via, ...flags, 'upload-metrics', '--file', file)).code).toBe(0);
        expect(seen.points).toHaveLength(200);
        expect(seen.points[199].labels).toEqual(labels);
        bytes.push(sent);
      }
      expect(bytes[1]).toBeLessThan(0.25 * bytes[0]);
    } finally {
      proxy.close();
    }
  });

  it('reads JSON lines, and names the line of a malformed one', async () => {
    seen.points = [];
    const file = join(dir, 'points.jsonl');
    writeFileSync(file, '{"name":"queue_depth","time":"2026-01-01T00:00:00Z","value":4,"labels":{"queue":"q1"}}\n\n{"time":"2026-01-01T00:00:05Z","value":5}\n');
    expect((await cli('upload-metrics', '--file', file)).code).toBe(0);
    expect(seen.points.map((p) => [p.name, p.value, p.labels])).toEqual([
      ['queue_depth', 4, { queue: 'q1' }],
      ['uploaded_value', 5, {}],
    ]);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"value":1,"time":0}\n{oops\n');
    const r = await cli('upload-metrics', '--file', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not JSON: `));
  });

  it('pipes flight delays from analytics into the upload, stamped when received', async () => {
    seen.points = [];
    seen.flightRequests.length = 0;
    const before = Date.now();
    const r = await cli('upload-metrics', '--from-flights', '--origin', 'SFO', '--month', '2001-03');
    expect(r.code).toBe(0);
    expect(seen.flightRequests[0]).toMatchObject({ origin: 'SFO', fromDate: '2001-03-01', toDate: '2001-04-01', });
    expect(seen.points.map((p) => [p.name, p.value, p.labels])).toEqual([
      ['flight_departure_delay_minutes', 61, { origin: 'SFO' }],
      ['flight_departure_delay_minutes', 75, { origin: 'SFO' }],
      ['flight_departure_delay_minutes', 120, { origin: 'SFO' }],
    ]);
    for (const p of seen.points) expect(p.time?.getTime()).toBeGreaterThanOrEqual(before);
    expect(r.out).toMatch(/^uploaded 3 departure delays of flights from SFO in 2001-03 in \d+ ms\nreceived 3, accepted 3, rejected 0\n$/);
  });

  it('needs exactly one source', async () => {
    expect((await cli('upload-metrics')).err).toBe('error: give --file <path> or --from-flights --origin <iata> --month <YYYY-MM>\n');
    expect((await cli('upload-metrics', '--from-flights', '--origin', 'SFO')).err).toBe('error: --from-flights needs --origin and --month\n');
  });
});

describe('order (idempotent unary)', () => {
  const args = ['order', '--user-id', 'u-1', '--sku', 'beans', '--quantity', '2', '--price-cents', '1250', '--request-id', 'cli-test-0001'];

  it('prints the order, then the same order marked replayed when retried with the same key', async () => {
    const first = await cli(...args);
    expect(first.code).toBe(0);
    expect(first.out).toContain('order o-1 for user u-1\n');
    expect(first.out).toContain('total: 25.00 USD\nreplayed: no (placed now)\n');
    const retry = await cli(...args, '--json');
    expect(retry.code).toBe(0);
    expect(JSON.parse(retry.out)).toMatchObject({ order: { id: 'o-1', totalCents: '2500' }, replayed: true });
  });

  it('the same key with another payload is FAILED_PRECONDITION', async () => {
    const r = await cli(...args.slice(0, -2), '--request-id', 'cli-test-0001', '--quantity', '3');
    expect(r).toEqual({ code: 1, out: '', err: 'error: FAILED_PRECONDITION: request_id cli-test-0001 was already used with a different request\n' });
  });

  it('generates a fresh request id when none is given', async () => {
    const r = await cli('order', '--user-id', 'u-1', '--sku', 'beans', '--price-cents', '1', '--json');
    expect(JSON.parse(r.out).order.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
