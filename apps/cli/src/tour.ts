/**
 * The tour: every pattern of the repo exercised against the running stack, one section per
 * pattern, each step CHECKING what the pattern promises (not just that a call returned):
 *
 * 1. auth, unary: register, login, GetUser, GetPublicKeys; the access token verified locally
 *    against the JWKS with jose; a wrong password gives UNAUTHENTICATED. From the login on,
 *    every call carries `authorization: Bearer <access token>` (clients.ts). The server
 *    interceptor chain at work: no token gives UNAUTHENTICATED "missing bearer token" and a bad
 *    one "invalid token"; `x-request-id` comes back in the response headers (the one sent, or a
 *    generated one, even on a rejection); INVALID_ARGUMENT carries google.rpc.BadRequest field
 *    violations in `grpc-status-details-bin`.
 * 2. analytics, server streaming: a filtered StreamFlights whose every row matches the filter;
 *    StreamDelayStats per origin and month, months arriving in order; no token: UNAUTHENTICATED.
 * 3. metrics, client streaming: the delays just streamed, uploaded; the summary's counts and
 *    extremes equal what was sent and min <= p50 <= p95 <= p99 <= max; no token: UNAUTHENTICATED.
 * 4. chat, bidi streaming: two logged-in accounts (step 1's user and a second one registered
 *    here) join with an empty `user`, so each member is its token's user id (CHAT_IDENTITY=token,
 *    chat's default); the second joining under the first's id is PERMISSION_DENIED; both see
 *    each other's messages and presence in the same sequence order; a leave is seen by the
 *    other; no token: UNAUTHENTICATED.
 * 5. orders, idempotent unary: the order is placed for the logged-in user; a retry with the same
 *    key replays it (same id, header `idempotent-replayed: true`); the same key with another
 *    payload is FAILED_PRECONDITION; a bad quantity INVALID_ARGUMENT with BadRequest details;
 *    another user's user_id PERMISSION_DENIED; no token UNAUTHENTICATED.
 *
 * The tour logs in itself: `--token` and GRPC_PATTERNS_TOKEN are not used.
 *
 * Everything is printed through an injected writer and returned as a {@link TourResult}, so the
 * e2e test calls runTour() directly and `grpc-patterns tour` only maps `ok` to the exit code.
 */
import * as grpc from '@grpc/grpc-js';
import { isServiceError, statusName, unaryCall, unaryCallDetailed, type FieldViolation } from '@grpc-patterns/grpc-kit';
import { decodeStatusDetails, REQUEST_ID_KEY } from '@grpc-patterns/interceptors';
import { analyticsV1, authV1, chatV1, ordersV1, metricsV1 } from '@grpc-patterns/proto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { isMessage, isPresence, ChatSession } from './chat-session.js';
import { AUTHORIZATION_KEY, Clients, DEFAULT_DEADLINES, type Deadlines } from './clients.js';
import { streamDelayStats, type WindowStats } from './commands/delay-stats.js';
import { PROGRESS_INTERVAL_MS, streamFlights, type FlightFilter } from './commands/flights.js';
import { plural } from './commands/lookups.js';
import { placeOrder, placeOrderRequest } from './commands/order.js';
import { clientStream } from './streams.js';
import { uploadPoints } from './commands/upload-metrics.js';
import type { Targets } from './config.js';
import { DELAY_STATS_COLUMNS, delayStatsRow, flightHeader, flightLine, indent, num, table, topStats, type Writer } from './format.js';
import { flightDelayPoint } from './points.js';
import { createProgress } from './progress.js';

/** One check of a step: what was expected, and whether it held. */
export interface TourCheck {
  ok: boolean;
  what: string;
}

/** One pattern's step. */
export interface TourStep {
  /** "auth", "analytics" ... */
  pattern: string;
  /** "unary", "server streaming" ... */
  shape: string;
  ok: boolean;
  /** One line: what it showed, or why it failed. */
  result: string;
  ms: number;
  checks: TourCheck[];
}

/** What {@link runTour} returns. */
export interface TourResult {
  /** True only if every step passed every check. */
  ok: boolean;
  steps: TourStep[];
  ms: number;
}

/** Options of {@link runTour}. */
export interface TourOptions {
  /** Where the sections and the summary are printed. */
  out: Writer;
  /** Progress bar for the flights scan; default none. */
  progress?: { enabled: boolean; stream?: NodeJS.WriteStream; outIsTerminal: boolean };
  /** Call deadlines; default {@link DEFAULT_DEADLINES}. */
  deadlines?: Deadlines;
  /** Makes names unique per run (user, room); default time + random. */
  runId?: string;
  /** How long to wait for each expected chat event, ms; default 5000. */
  chatWaitMs?: number;
}

/** The StreamFlights query of step 2: SFO, March 2001, delayed an hour or more, 100 per message. */
export const TOUR_FLIGHTS: Required<Pick<FlightFilter, 'origin' | 'from' | 'to' | 'minDelay' | 'chunkSize'>> = {
  origin: 'SFO',
  from: '2001-03-01',
  to: '2001-04-01',
  minDelay: 60,
  chunkSize: 100,
};

/** The StreamDelayStats query of step 2: per origin airport and month, Q1 2001, airports with 1000+ flights. */
export const TOUR_DELAY_STATS = { from: '2001-01-01', to: '2001-04-01', minFlights: 1000 };

/** What the auth interceptor says to a call without `authorization: Bearer ...` (libs/interceptors auth.ts). */
export const MISSING_TOKEN_MESSAGE = 'missing bearer token';
/** ... and to a token that does not verify. */
export const INVALID_TOKEN_MESSAGE = 'invalid token';
/** What orders says to a PlaceOrder for another user's user_id (apps/orders). */
export const NOT_YOURSELF_MESSAGE = 'orders can only be placed for yourself';

/** A request id as the request-id interceptor generates it (UUID v4). */
const GENERATED_REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A failed check; ends the step. */
class CheckFailed extends Error {}

/** What a step function gets. */
interface StepTools {
  /** Records a check; a false one fails the step here. */
  check(ok: boolean, what: string, detail?: string): void;
  /** Records that `call` fails with `code` and, when given, exactly `message`. */
  expectCode(call: Promise<unknown>, code: grpc.status, what: string, message?: string): Promise<grpc.ServiceError>;
  /** Prints a line (or lines) in the step's section. */
  log(text: string): void;
}

/** Data the steps hand on: the user for orders, the flights' delays for metrics. */
interface TourState {
  user?: authV1.User;
  /** Clients with the same targets that send no token (for the "no token" checks). */
  anonymous: Clients;
  /** One point per flight streamed in step 2, stamped when it was received (see flightDelayPoint). */
  points: metricsV1.UploadMetricsRequest[];
}

/**
 * Runs the five steps in order against `targets` and prints each section and a final summary
 * table (pattern, RPC shape, result, time ms). A step's failure (a check or an error) is
 * reported and the tour goes on with the next step. The channels stay open (grpc-kit shares
 * them per target); the caller closes them with closeAllChannels().
 */
export async function runTour(targets: Targets, options: TourOptions): Promise<TourResult> {
  const started = Date.now();
  const out = options.out;
  const clients = new Clients(targets, options.deadlines ?? DEFAULT_DEADLINES);
  const runId = options.runId ?? `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const state: TourState = { points: [], anonymous: clients.withoutToken() };
  const steps: TourStep[] = [];
  out.write(`grpc-patterns tour (run ${runId})\n`);
  out.write(`targets: ${Object.entries(targets).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);

  steps.push(await runStep(out, 1, 'auth', 'unary', (t) => authStep(clients, t, runId, state)));
  steps.push(await runStep(out, 2, 'analytics', 'server streaming', (t) => analyticsStep(clients, t, state, options)));
  steps.push(await runStep(out, 3, 'metrics', 'client streaming', (t) => metricsStep(clients, t, state)));
  steps.push(await runStep(out, 4, 'chat', 'bidi streaming', (t) => chatStep(clients, t, runId, options.chatWaitMs ?? 5_000, state)));
  steps.push(await runStep(out, 5, 'orders', 'idempotent unary', (t) => ordersStep(clients, t, state, runId)));

  const result: TourResult = { ok: steps.every((s) => s.ok), steps, ms: Date.now() - started };
  out.write(`\n== summary ==\n${formatTourSummary(result)}\n`);
  return result;
}

/** The final table: one row per step, then the verdict. */
export function formatTourSummary(result: TourResult): string {
  const rows = result.steps.map((s) => [s.pattern, s.shape, `${s.ok ? 'ok' : 'FAILED'}: ${s.result}`, String(s.ms)]);
  const verdict = result.ok
    ? `all ${result.steps.length} patterns behaved as specified (${result.ms} ms)`
    : `${result.steps.filter((s) => !s.ok).length} of ${result.steps.length} patterns FAILED (${result.ms} ms)`;
  return `${table([{ header: 'PATTERN' }, { header: 'RPC SHAPE' }, { header: 'RESULT' }, { header: 'TIME_MS', align: 'right' }], rows)}\n${verdict}`;
}

async function runStep(out: Writer, n: number, pattern: string, shape: string, fn: (t: StepTools) => Promise<string>): Promise<TourStep> {
  out.write(`\n== ${n}. ${pattern} (${shape}) ==\n`);
  const checks: TourCheck[] = [];
  const started = Date.now();
  const tools: StepTools = {
    check(ok, what, detail) {
      checks.push({ ok, what });
      out.write(`  ${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? ` (${detail})` : ''}\n`);
      if (!ok) throw new CheckFailed(detail ? `${what}: ${detail}` : what);
    },
    async expectCode(call, code, what, message) {
      const expected = `${what} -> ${statusName(code)}${message === undefined ? '' : ` "${message}"`}`;
      try {
        await call;
      } catch (error) {
        if (isServiceError(error)) {
          const ok = error.code === code && (message === undefined || error.details === message);
          tools.check(ok, expected, ok ? undefined : `got ${statusName(error.code)}: ${error.details}`);
          if (message === undefined) out.write(`       "${error.details}"\n`);
          return error;
        }
        throw error;
      }
      tools.check(false, expected, 'the call succeeded');
      throw new CheckFailed('unreachable');
    },
    log(text) {
      out.write(indent(text, '  ') + '\n');
    },
  };
  let ok = true;
  let result: string;
  try {
    result = await fn(tools);
  } catch (error) {
    ok = false;
    if (error instanceof CheckFailed) result = `check failed: ${error.message}`;
    else if (isServiceError(error)) result = `${statusName(error.code)}: ${error.details}`;
    else result = error instanceof Error ? error.message : String(error);
    if (!(error instanceof CheckFailed)) out.write(`  FAIL ${result}\n`);
  }
  return { pattern, shape, ok, result, ms: Date.now() - started, checks };
}

// ---- 1. auth ---------------------------------------------------------------------------------

async function authStep(clients: Clients, t: StepTools, runId: string, state: TourState): Promise<string> {
  const auth = clients.auth;
  const username = `tour_${runId}`.toLowerCase().slice(0, 32);
  const password = randomBytes(12).toString('base64url');
  const deadline = () => ({ deadline: clients.unaryDeadline() });

  const registered = await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username, password, displayName: `Tour ${runId}` }), deadline());
  const user = registered.user;
  t.check(user?.username === username && !!user.id, `Register created ${username}`, `got ${JSON.stringify(user)}`);
  t.log(`user id ${user?.id}`);

  const login = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username, password }), deadline());
  t.check(login.user?.id === user?.id, 'Login returned the same user');
  const token = login.tokens?.accessToken ?? '';
  const expires = login.tokens?.accessTokenExpireTime;
  t.check(token.split('.').length === 3 && login.tokens?.tokenType === 'Bearer', 'Login issued a Bearer compact JWS', `token type ${login.tokens?.tokenType}`);
  t.check(!!expires && expires.getTime() > Date.now(), `access token expires in the future (${expires?.toISOString()})`);
  clients.useToken(token, user?.id);
  t.log('from here on every call carries "authorization: Bearer <access token>"');

  // The server chain: auth rejects calls without a (valid) token; request id runs before it.
  const getUser = authV1.GetUserRequest.fromPartial({ userId: user?.id ?? '' });
  const anonymous = state.anonymous;
  const rejected = await t.expectCode(unaryCall(anonymous.auth.getUser.bind(anonymous.auth), getUser, deadline()), grpc.status.UNAUTHENTICATED, 'GetUser without a token', MISSING_TOKEN_MESSAGE);
  const generatedId = rejected.metadata?.get(REQUEST_ID_KEY)[0];
  t.check(typeof generatedId === 'string' && GENERATED_REQUEST_ID.test(generatedId), `the rejection carries a generated ${REQUEST_ID_KEY} (${generatedId})`, `got ${String(generatedId)}`);
  const badToken = new grpc.Metadata();
  badToken.set(AUTHORIZATION_KEY, 'Bearer not.a-valid.token');
  await t.expectCode(unaryCall(auth.getUser.bind(auth), getUser, { ...deadline(), metadata: badToken }), grpc.status.UNAUTHENTICATED, 'GetUser with a malformed token', INVALID_TOKEN_MESSAGE);

  const sentId = `tour-${runId}-get-user`;
  const withId = new grpc.Metadata();
  withId.set(REQUEST_ID_KEY, sentId);
  const got = await unaryCallDetailed(auth.getUser.bind(auth), getUser, { ...deadline(), metadata: withId });
  t.check(got.response.user?.username === username, 'GetUser with the token found the user by id');
  const echoed = got.headers.get(REQUEST_ID_KEY)[0];
  t.check(echoed === sentId, `response header ${REQUEST_ID_KEY} echoes the one sent (${sentId})`, `got ${String(echoed)}`);

  const jwks = await unaryCall(auth.getPublicKeys.bind(auth), authV1.GetPublicKeysRequest.fromPartial({}), deadline());
  t.check(jwks.keys.length > 0, `GetPublicKeys returned ${jwks.keys.length} key(s): ${jwks.keys.map((k) => `${k.kid} ${k.alg}`).join(', ')}`);
  // Verify locally, as any service would: signature against the JWKS, plus iss, aud and exp.
  const keySet = createLocalJWKSet({ keys: jwks.keys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid, alg: k.alg, use: k.use })) });
  let verified: Awaited<ReturnType<typeof jwtVerify>>;
  try {
    verified = await jwtVerify(token, keySet, { issuer: jwks.issuer, audience: jwks.audience });
  } catch (error) {
    t.check(false, 'access token verifies against the JWKS (jose)', (error as Error).message);
    throw error;
  }
  t.check(verified.payload.sub === user?.id, `access token verified locally with jose (kid ${verified.protectedHeader.kid}, ${verified.protectedHeader.alg}, iss ${jwks.issuer}, aud ${jwks.audience}), sub = user id`);

  await t.expectCode(unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username, password: `${password}-wrong` }), deadline()), grpc.status.UNAUTHENTICATED, 'Login with a wrong password');

  const invalid = await t.expectCode(
    unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: 'A', password: 'short' }), deadline()),
    grpc.status.INVALID_ARGUMENT,
    'Register with a bad username and a short password',
    'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"; password: must be at least 8 characters',
  );
  checkBadRequest(t, invalid, [
    { field: 'username', description: 'must be 3-32 characters of a-z, 0-9, "_", "." and "-"' },
    { field: 'password', description: 'must be at least 8 characters' },
  ]);
  state.user = user;
  return `registered ${username}; ${verified.protectedHeader.alg} token verified locally; no/bad token UNAUTHENTICATED; request id echoed; BadRequest`;
}

/** Checks the google.rpc.BadRequest in an error's `grpc-status-details-bin`: exactly `expected`. */
function checkBadRequest(t: StepTools, error: grpc.ServiceError, expected: FieldViolation[]): void {
  let violations: FieldViolation[] | undefined;
  let problem: string | undefined;
  try {
    violations = decodeStatusDetails(error)?.fieldViolations;
    if (violations === undefined) problem = 'no BadRequest in grpc-status-details-bin';
  } catch (decodeError) {
    problem = (decodeError as Error).message;
  }
  const shown = (vs: FieldViolation[]) => vs.map((v) => `${v.field}: ${v.description}`).join(' | ');
  const same = violations !== undefined && JSON.stringify(violations.map((v) => [v.field, v.description])) === JSON.stringify(expected.map((v) => [v.field, v.description]));
  t.check(same, `grpc-status-details-bin holds a google.rpc.BadRequest with the field violations ${expected.map((v) => v.field).join(', ')}`, problem ?? `got ${shown(violations ?? [])}`);
}

// ---- 2. analytics ----------------------------------------------------------------------------

async function analyticsStep(clients: Clients, t: StepTools, state: TourState, options: TourOptions): Promise<string> {
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

// ---- 3. metrics ------------------------------------------------------------------------------

/** The exact q-quantile bracket of sorted values: [value just below rank, value just above]. */
function quantileBracket(sorted: number[], q: number): [number, number] {
  const rank = q * (sorted.length - 1);
  return [sorted[Math.max(0, Math.floor(rank) - 1)], sorted[Math.min(sorted.length - 1, Math.ceil(rank) + 1)]];
}

async function metricsStep(clients: Clients, t: StepTools, state: TourState): Promise<string> {
  const points = state.points;
  t.check(points.length > 0, 'a real series to upload: the delays streamed in step 2', 'step 2 streamed no flights');
  // Stamped when received: metrics rejects points older than MAX_POINT_AGE_MS, and the flights are from 2001.
  t.log(`UploadMetrics: ${points.length} points of ${points[0].name}{origin="${TOUR_FLIGHTS.origin}"} (value = delay, time = when received), one message each`);
  const upload = await uploadPoints(clients, points);
  const res = upload.response;
  t.log(`received ${res.receivedCount}, accepted ${res.acceptedCount}, rejected ${res.rejectedCount} in ${upload.ms} ms`);
  for (const r of res.rejected.slice(0, 3)) t.log(`rejected #${r.index}: ${r.field}: ${r.reason}`);
  t.check(Number(res.receivedCount) === upload.sent && upload.sent === points.length, `received_count = points sent (${upload.sent})`, `received ${res.receivedCount}`);
  t.check(Number(res.acceptedCount) === points.length && Number(res.rejectedCount) === 0, 'every point accepted', `accepted ${res.acceptedCount}, rejected ${res.rejectedCount}`);
  t.check(res.series.length === 1, 'one series in the summary', `got ${res.series.length}`);
  const s = res.series[0];
  t.log(`count ${s.count} min ${num(s.min)} p50 ${num(s.p50)} p95 ${num(s.p95)} p99 ${num(s.p99)} max ${num(s.max)} mean ${num(s.mean)}`);
  t.check(Number(s.count) === points.length, `summary count = points sent (${points.length})`, `count ${s.count}`);
  t.check(s.min <= s.p50 && s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max, 'min <= p50 <= p95 <= p99 <= max');
  t.check(s.min === upload.min && s.max === upload.max, `min and max are exact (${upload.min}, ${upload.max})`, `summary ${s.min}, ${s.max}`);
  const values = points.map((p) => p.value).sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  t.check(Math.abs(s.mean - mean) <= 1e-9 * Math.max(1, Math.abs(mean)), `mean is exact (${num(mean)})`, `summary ${s.mean}`);
  // DDSketch promises 1% relative accuracy around the true quantile (proto/metrics/v1/metrics.proto).
  const [low, high] = quantileBracket(values, 0.5);
  t.check(s.p50 >= low * 0.99 && s.p50 <= high * 1.01, `p50 within 1% of the exact median (${low}..${high})`, `p50 ${s.p50}`);
  const anonymous = state.anonymous.metrics;
  const { call, response } = clientStream<metricsV1.UploadMetricsRequest, metricsV1.UploadMetricsResponse>((cb) => anonymous.uploadMetrics({ deadline: clients.streamDeadline() }, cb));
  call.end();
  await t.expectCode(response, grpc.status.UNAUTHENTICATED, 'UploadMetrics without a token', MISSING_TOKEN_MESSAGE);
  return `${points.length} real points accepted; count, min, max, mean exact; p50 ${num(s.p50)} p99 ${num(s.p99)}; no token UNAUTHENTICATED`;
}

// ---- 4. chat ---------------------------------------------------------------------------------

/** What an event looks like in both users' views (time left out: it is the server's, same for both). */
function eventKey(e: chatV1.ChatResponse): string {
  if (e.event?.$case === 'message') return `#${e.sequence} ${e.event.message.user}: ${e.event.message.text}`;
  if (e.event?.$case === 'presence') return `#${e.sequence} ${e.event.presence.user} ${chatV1.presenceKindToJSON(e.event.presence.kind)} [${e.event.presence.members.join(',')}]`;
  return `#${e.sequence} ?`;
}

function increasing(events: chatV1.ChatResponse[]): boolean {
  return events.every((e, i) => i === 0 || BigInt(e.sequence) > BigInt(events[i - 1].sequence));
}

async function chatStep(clients: Clients, t: StepTools, runId: string, waitMs: number, state: TourState): Promise<string> {
  const room = `tour-${runId}`;
  const JOINED = chatV1.PresenceKind.PRESENCE_KIND_JOINED;
  const LEFT = chatV1.PresenceKind.PRESENCE_KIND_LEFT;
  // Two accounts: chat names each member after its access token (CHAT_IDENTITY=token, its
  // default), so one token cannot be two members. The first is step 1's user.
  const first = state.user;
  t.check(!!first?.id && clients.userId === first.id, 'a first account: the one logged in in step 1', 'step 1 logged in no user');
  const auth = clients.auth;
  const bobName = `bob_${runId}`.toLowerCase().slice(0, 32);
  const bobPassword = randomBytes(12).toString('base64url');
  await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: bobName, password: bobPassword }), { deadline: clients.unaryDeadline() });
  const bobLogin = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username: bobName, password: bobPassword }), { deadline: clients.unaryDeadline() });
  const bobClients = new Clients(clients.targets, clients.deadlines);
  bobClients.useToken(bobLogin.tokens?.accessToken ?? '', bobLogin.user?.id);
  // Member names are the user ids; the usernames are for the reader.
  const [alice, bob] = [first?.id ?? '', bobLogin.user?.id ?? ''];
  const aliceName = first?.username ?? '';
  t.check(bob !== '' && bob !== alice, `a second account: ${bobName} registered and logged in (id ${bob})`);
  // Bidi streams get a deadline too: the whole conversation must be over in 30 s.
  const deadline = new Date(Date.now() + 30_000);
  const a = ChatSession.open(clients.chat, room, '', { deadline });
  let b: ChatSession | undefined;
  try {
    await a.waitFor((e) => isPresence(e, alice, JOINED), `${aliceName}'s own join`, waitMs);
    t.check(true, `${aliceName} joined ${room} with an empty user: the member is her token's user id ${alice}`);
    const impostor = ChatSession.open(bobClients.chat, room, alice, { deadline });
    try {
      await t.expectCode(impostor.ended, grpc.status.PERMISSION_DENIED, `${bobName} joining as ${aliceName}'s id`, `join.user: must be empty or your own user id ${JSON.stringify(bob)}`);
    } finally {
      impostor.call.cancel();
    }
    b = ChatSession.open(bobClients.chat, room, '', { deadline });
    const bobJoinedB = await b.waitFor((e) => isPresence(e, bob, JOINED), `${bobName}'s own join`, waitMs);
    const bobJoinedA = await a.waitFor((e) => isPresence(e, bob, JOINED), `${bobName}'s join`, waitMs);
    t.check(bobJoinedA.sequence === bobJoinedB.sequence, `both see ${bobName} join as #${bobJoinedA.sequence}`, `${aliceName} saw #${bobJoinedA.sequence}, ${bobName} #${bobJoinedB.sequence}`);
    const members = bobJoinedA.event?.$case === 'presence' ? bobJoinedA.event.presence.members : [];
    t.check(members.includes(alice) && members.includes(bob), `presence lists both members [${members.join(', ')}]`);

    const fromAlice = `hello from ${aliceName}`;
    const fromBob = `hi ${aliceName}, ${bobName} here`;
    a.send(fromAlice);
    b.send(fromBob);
    const last = Math.max(
      ...(await Promise.all([
        a.waitFor((e) => isMessage(e, alice, fromAlice), `${aliceName}'s message`, waitMs),
        a.waitFor((e) => isMessage(e, bob, fromBob), `${bobName}'s message`, waitMs),
        b.waitFor((e) => isMessage(e, alice, fromAlice), `${aliceName}'s message`, waitMs),
        b.waitFor((e) => isMessage(e, bob, fromBob), `${bobName}'s message`, waitMs),
      ]).then((events) => events.map((e) => Number(e.sequence)))),
    );
    t.check(true, `each sees the other's message`);
    const since = Number(bobJoinedA.sequence);
    const viewA = a.events.filter((e) => Number(e.sequence) >= since && Number(e.sequence) <= last).map(eventKey);
    const viewB = b.events.filter((e) => Number(e.sequence) >= since && Number(e.sequence) <= last).map(eventKey);
    t.log(`${aliceName} saw:\n${indent(viewA.join('\n'), '  ')}`);
    t.check(viewA.join('\n') === viewB.join('\n'), `both saw the same ${viewA.length} events in the same sequence order (#${since}..#${last})`, `${bobName} saw ${viewB.join(' | ')}`);
    t.check(increasing(a.events) && increasing(b.events), 'sequence numbers strictly increase in each stream');

    await b.leave();
    t.check(true, `${bobName} half-closed and the server ended his stream OK`);
    const left = await a.waitFor((e) => isPresence(e, bob, LEFT), `${bobName}'s leave`, waitMs);
    const after = left.event?.$case === 'presence' ? left.event.presence.members : [];
    t.check(!after.includes(bob) && after.includes(alice), `${aliceName} sees ${bobName} leave as #${left.sequence} (members now [${after.join(', ')}])`);
    await a.leave();
    const anonymous = ChatSession.open(state.anonymous.chat, room, `nobody-${runId}`, { deadline });
    try {
      await t.expectCode(anonymous.ended, grpc.status.UNAUTHENTICATED, 'Chat without a token', MISSING_TOKEN_MESSAGE);
    } finally {
      anonymous.call.cancel();
    }
    return `2 users saw the same ${viewA.length} events (#${since}..#${last}); leave seen as #${left.sequence}; no token UNAUTHENTICATED`;
  } finally {
    // On any failure, do not leave streams open (they would keep the process alive).
    a.call.cancel();
    b?.call.cancel();
  }
}

// ---- 5. orders -------------------------------------------------------------------------------

async function ordersStep(clients: Clients, t: StepTools, state: TourState, runId: string): Promise<string> {
  const user = state.user;
  t.check(!!user?.id && clients.userId === user.id, 'a user to order for: the one logged in in step 1 (the token is theirs)', 'step 1 logged in no user');
  const userId = user?.id ?? '';
  const requestId = randomUUID();
  const item = { userId, sku: 'tour-sku-espresso', quantity: 2, priceCents: 1250 };
  t.log(`PlaceOrder request_id=${requestId} ${item.quantity} x ${item.sku} at ${item.priceCents} cents for ${userId}`);

  const first = await placeOrder(clients, placeOrderRequest({ ...item, requestId }));
  t.check(!!first.order?.id && first.order.userId === userId && first.order.requestId === requestId, `placed order ${first.order?.id}`);
  t.check(first.order?.totalCents === '2500', `total_cents = 2 x 1250 = 2500`, `got ${first.order?.totalCents}`);
  t.check(!first.replayed, 'first call: not a replay (no idempotent-replayed header)');

  const retry = await placeOrder(clients, placeOrderRequest({ ...item, requestId }));
  t.check(retry.order?.id === first.order?.id, 'retry with the same key returns the same order id', `got ${retry.order?.id}`);
  t.check(retry.replayed, 'retry carries the response header idempotent-replayed: true');

  const orders = clients.orders;
  const got = await unaryCall(orders.getOrder.bind(orders), ordersV1.GetOrderRequest.fromPartial({ orderId: first.order?.id ?? '' }), { deadline: clients.unaryDeadline() });
  t.check(got.order?.id === first.order?.id, 'GetOrder reads it back');
  const list = await unaryCall(orders.listOrders.bind(orders), ordersV1.ListOrdersRequest.fromPartial({ userId, pageSize: 10 }), { deadline: clients.unaryDeadline() });
  t.check(list.orders.length === 1, 'ListOrders shows exactly one order for the user (the retry placed none)', `got ${list.orders.length}`);

  await t.expectCode(
    placeOrder(clients, placeOrderRequest({ ...item, quantity: 3, requestId })),
    grpc.status.FAILED_PRECONDITION,
    'same key, different quantity',
    `request_id ${requestId} was already used with a different request`,
  );

  const invalid = await t.expectCode(
    placeOrder(clients, placeOrderRequest({ ...item, quantity: 0, requestId: randomUUID() })),
    grpc.status.INVALID_ARGUMENT,
    'quantity 0 (token sent: validation runs after auth)',
    'items[0].quantity: must be between 1 and 1000',
  );
  checkBadRequest(t, invalid, [{ field: 'items[0].quantity', description: 'must be between 1 and 1000' }]);

  // Another real user: registering needs no token (Register is public).
  const auth = clients.auth;
  const otherName = `other_${runId}`.toLowerCase().slice(0, 32);
  const other = await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: otherName, password: randomBytes(12).toString('base64url') }), { deadline: clients.unaryDeadline() });
  const otherId = other.user?.id ?? '';
  t.log(`registered ${otherName} (id ${otherId})`);
  await t.expectCode(placeOrder(clients, placeOrderRequest({ ...item, userId: otherId, requestId: randomUUID() })), grpc.status.PERMISSION_DENIED, `an order for ${otherName}'s user_id`, NOT_YOURSELF_MESSAGE);

  const anonymous = state.anonymous;
  await t.expectCode(placeOrder(anonymous, placeOrderRequest({ ...item, requestId: randomUUID() })), grpc.status.UNAUTHENTICATED, 'PlaceOrder without a token', MISSING_TOKEN_MESSAGE);
  return 'placed once for the caller; retry replayed; other payload FAILED_PRECONDITION; other user PERMISSION_DENIED';
}
