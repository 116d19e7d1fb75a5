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
import { randomBytes } from 'node:crypto';
import { Clients, DEFAULT_DEADLINES } from './clients.js';
import type { Targets } from './config.js';
import { table } from './format.js';
import { authStep } from './tour-auth.js';
import { analyticsStep } from './tour-analytics.js';
import { metricsStep } from './tour-metrics.js';
import { chatStep } from './tour-chat.js';
import { ordersStep } from './tour-orders.js';
import { type TourState, runStep, type TourOptions, type TourStep } from './tour-step.js';

export { INVALID_TOKEN_MESSAGE, MISSING_TOKEN_MESSAGE, NOT_YOURSELF_MESSAGE, TOUR_DELAY_STATS, TOUR_FLIGHTS, type TourCheck, type TourOptions, type TourStep } from './tour-step.js';

/** What {@link runTour} returns. */
export interface TourResult {
  /** True only if every step passed every check. */
  ok: boolean;
  steps: TourStep[];
  ms: number;
}

/**
 * Runs the five steps against `targets`, printing each section and a summary table (pattern, RPC shape,
 * result, time ms); a failed step is reported and the tour goes on. The channels stay open (grpc-kit
 * shares them per target): the caller closes them with closeAllChannels().
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
