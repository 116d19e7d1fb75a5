/** A "ratio <= max" target (lower is better: memory per stream against bare). */
export function maxRatioTarget(ratio: number | null, max: number): Target | undefined {
  if (ratio === null || !Number.isFinite(ratio)) return undefined;
  const met = ratio <= max;
  return { text: `<= ${max}x bare`, met, gap: met ? '' : `${(ratio / max).toFixed(1)}x over` };
}

/** A "value >= min" target (a rate with no baseline). */
export function minTarget(value: number | null, min: number, unit: string): Target | undefined {
  if (value === null || !Number.isFinite(value)) return undefined;
  const met = value >= min;
  return { text: `>= ${min} ${unit}`, met, gap: met ? '' : `${Math.round((1 - value / min) * 100)}% below` };
}

/**
 * The shape of `docs/bench/results.json`: one section per scenario (raw numbers per round, for
 * the plots) and one summary row per headline number (for the table in docs/benchmarks.md).
 */
import { median } from './measure.js';

/** A target a row is checked against. */
export interface Target {
  /** How the target reads in the report ("ratio >= 0.85", "< 50 MB"). */
  text: string;
  /** Whether the measured value meets it. */
  met: boolean;
  /** What is missing when not met ("needs +12% req/s"); empty when met. */
  gap: string;
}

/** One line of the results table. */
export interface SummaryRow {
  scenario: string;
  metric: string;
  unit: string;
  /** The pattern's number (median over rounds); null when not measured. */
  value: number | null;
  /** The bare grpc-js baseline measured in the same run, when there is one. */
  baseline?: number | null;
  /** value / baseline. */
  ratio?: number | null;
  target?: Target;
  /** Why not measured, or what the number means. */
  note?: string;
}

/** Everything one `npm run bench` writes to results.json. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick' | 'smoke';
  machine: {
    cpus: string;
    cores: number;
    memoryGiB: number;
    os: string;
    node: string;
    grpcJs: string;
    h2load: string;
    pinned: boolean;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
  };
  commands: string[];
  settings: Record<string, unknown>;
  summary: SummaryRow[];
  scenarios: Record<string, unknown>;
}

/** A "ratio >= min" target for a value/baseline pair. */
export function ratioTarget(ratio: number | null, min: number): Target | undefined {
  if (ratio === null || !Number.isFinite(ratio)) return undefined;
  const met = ratio >= min;
  return { text: `>= ${Math.round(min * 100)}% of bare`, met, gap: met ? '' : `${Math.round((min - ratio) * 100)} percentage points below` };
}

/** A "value < max" target. */
export function maxTarget(value: number | null, max: number, unit: string): Target | undefined {
  if (value === null || !Number.isFinite(value)) return undefined;
  const met = value < max;
  return { text: `< ${max} ${unit}`, met, gap: met ? '' : `${(value - max).toFixed(1)} ${unit} over` };
}

/**
 * The median of the per-round ratios `values[i] / baselines[i]` (each pair measured back to
 * back in one round), or null when there is no pair. Pairing keeps a slow spell of the shared
 * machine, which hits both runs of a round, out of the ratio.
 */
export function pairedRatio(values: readonly number[], baselines: readonly number[]): number | null {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(values.length, baselines.length); i++) if (baselines[i] > 0) ratios.push(values[i] / baselines[i]);
  return ratios.length === 0 ? null : median(ratios);
}

/** value / baseline, or null when either is missing or the baseline is 0. */
export function ratioOf(value: number | null, baseline: number | null): number | null {
  return value === null || baseline === null || baseline === 0 ? null : value / baseline;
}
