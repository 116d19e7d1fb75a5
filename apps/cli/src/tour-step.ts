/** What every tour step shares: the step runner and its checks, the state handed on, the queries and messages. */
import * as grpc from '@grpc/grpc-js';
import { isServiceError, statusName, type FieldViolation } from '@grpc-patterns/grpc-kit';
import { decodeStatusDetails } from '@grpc-patterns/interceptors';
import { authV1, metricsV1 } from '@grpc-patterns/proto';
import type { Clients, Deadlines } from './clients.js';
import { type FlightFilter } from './commands/flights.js';
import { indent, type Writer } from './format.js';

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

/** Options of {@link runTour}. */
export interface TourOptions {
  /** Where the sections and the summary are printed. */
  out: Writer;
  /** Progress bar for the flights scan; default none. */
  progress?: { enabled: boolean; stream?: NodeJS.WriteStream; outIsTerminal: boolean };
  /** Call deadlines; default DEFAULT_DEADLINES (clients.ts). */
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
export const GENERATED_REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A failed check; ends the step. */
export class CheckFailed extends Error {}

/** What a step function gets. */
export interface StepTools {
  /** Records a check; a false one fails the step here. */
  check(ok: boolean, what: string, detail?: string): void;
  /** Records that `call` fails with `code` and, when given, exactly `message`. */
  expectCode(call: Promise<unknown>, code: grpc.status, what: string, message?: string): Promise<grpc.ServiceError>;
  /** Prints a line (or lines) in the step's section. */
  log(text: string): void;
}

/** Data the steps hand on: the user for orders, the flights' delays for metrics. */
export interface TourState {
  user?: authV1.User;
  /** Clients with the same targets that send no token (for the "no token" checks). */
  anonymous: Clients;
  /** One point per flight streamed in step 2, stamped when it was received (see flightDelayPoint). */
  points: metricsV1.UploadMetricsRequest[];
}

export async function runStep(out: Writer, n: number, pattern: string, shape: string, fn: (t: StepTools) => Promise<string>): Promise<TourStep> {
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

/** Checks the google.rpc.BadRequest in an error's `grpc-status-details-bin`: exactly `expected`. */
export function checkBadRequest(t: StepTools, error: grpc.ServiceError, expected: FieldViolation[]): void {
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
