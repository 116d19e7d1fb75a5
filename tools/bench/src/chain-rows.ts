/**
 * The chain table's rows: names shared by the chain process and the bench, and the medians and
 * differences computed from the runs (no side effects: chain-server.ts starts servers when loaded).
 */
import { median, round, roundOrNull } from './measure.js';
import { pairedRatio } from './results.js';

/** The row of startServer() with as many pass-through layers as the chain has: what layering alone costs. */
export const PASS_THROUGH_ROW = 'pass-through layers';

/** The extra row: the full chain in a second process started with the 1% sampler (chain.ts SAMPLED_ENV). */
export const SAMPLED_ROW = 'full, 1% sampled';

/** One server's numbers in one round. */
export interface ChainRun {
  server: string;
  round: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Calls that reached the handler during the h2load run (warm-up included). */
  handled: number;
  /** Server process CPU time per handled call, µs. */
  cpuUsPerCall: number;
  /** Stream messages per second, one client reading as fast as it can. */
  messagesPerSecond: number;
  /** Server process CPU time per stream message, µs. */
  cpuUsPerMessage: number;
}

/** One row of the chain table: medians over the rounds. */
export interface ChainRow {
  server: string;
  requestsPerSecond: number;
  /** Median of the rounds' own req/s ratios to bare. */
  ratio: number | null;
  cpuUsPerCall: number;
  /** This row's CPU per call minus the row before's (median over rounds); null for bare. */
  addedUsPerCall: number | null;
  messagesPerSecond: number;
  cpuUsPerMessage: number;
  addedUsPerMessage: number | null;
}

/** One server's values of `key`, in round order. */
export function byRound(runs: ChainRun[], server: string, key: 'requestsPerSecond' | 'messagesPerSecond' | 'cpuUsPerCall' | 'cpuUsPerMessage'): number[] {
  return runs.filter((r) => r.server === server).sort((a, b) => a.round - b.round).map((r) => r[key]);
}

/** The full chain's row: the last "+ layer" row. */
export function lastLayerRow(names: string[]): string {
  return names.filter((n) => n.startsWith('+ ')).pop() ?? names[names.length - 1];
}

/**
 * The row a row's "adds" is measured against: the row before it in chain order; for
 * {@link PASS_THROUGH_ROW} startServer(), for {@link SAMPLED_ROW} the full chain.
 */
function previousRow(names: string[], i: number): string | undefined {
  if (names[i] === PASS_THROUGH_ROW) return 'startServer()';
  if (names[i] === SAMPLED_ROW) return lastLayerRow(names);
  return names[i - 1];
}

/** Medians per server in chain order, with the differences of CPU per call and per message to {@link previousRow}. */
export function chainTable(names: string[], runs: ChainRun[], rounds: number): ChainRow[] {
  const added = (name: string, previous: string | undefined, key: 'cpuUsPerCall' | 'cpuUsPerMessage') => {
    if (!previous) return null;
    const mine = byRound(runs, name, key);
    const theirs = byRound(runs, previous, key);
    const diffs = Array.from({ length: Math.min(rounds, mine.length, theirs.length) }, (_, i) => mine[i] - theirs[i]);
    return diffs.length ? round(median(diffs), 2) : null;
  };
  return names.map((name, i) => ({
    server: name,
    requestsPerSecond: round(median(byRound(runs, name, 'requestsPerSecond')), 0),
    ratio: roundOrNull(pairedRatio(byRound(runs, name, 'requestsPerSecond'), byRound(runs, 'bare', 'requestsPerSecond'))),
    cpuUsPerCall: round(median(byRound(runs, name, 'cpuUsPerCall')), 2),
    addedUsPerCall: added(name, previousRow(names, i), 'cpuUsPerCall'),
    messagesPerSecond: round(median(byRound(runs, name, 'messagesPerSecond')), 0),
    cpuUsPerMessage: round(median(byRound(runs, name, 'cpuUsPerMessage')), 2),
    addedUsPerMessage: added(name, previousRow(names, i), 'cpuUsPerMessage'),
  }));
}
