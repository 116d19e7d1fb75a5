/**
 * Measuring helpers: CPU pinning (taskset), a process' RSS and CPU time from /proc, Prometheus
 * counters from a service's /metrics, and percentiles. Linux only (the bench's machine and CI).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Whether `taskset` (util-linux) is on PATH and the machine has at least two cores. */
export function canPin(cores: number): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cores >= 2;
  } catch {
    return false;
  }
}

/**
 * Pins every thread of process `pid` to CPU `core` (`taskset -a -p -c`). Threads the process
 * starts later inherit the mask. No-op when `enabled` is false (one core, or no taskset).
 */
export function pin(pid: number, core: number, enabled: boolean): void {
  if (enabled) execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

/** Resident set size of `pid`, bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** User + system CPU time `pid` has used so far, seconds (/proc/<pid>/stat utime + stime). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux architecture Node runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * Sum of the samples of Prometheus counter `name` whose labels include every pair of `labels`,
 * in `text` (a text-format /metrics page).
 */
export function counterSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(line.slice(close + 1).trim());
  }
  return sum;
}

/** The /metrics page at `url`, text format. */
export async function fetchMetrics(url: string): Promise<string> {
  return (await fetch(url)).text();
}

/** The `q` quantile (0..1) of `values` by nearest rank; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Median of `values`. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * The order of round `round`'s two runs: `[first, second]` on even rounds, swapped on odd ones,
 * so a slow spell on a shared machine does not always hit the same side.
 */
export function alternate<T>(round: number, first: T, second: T): [T, T] {
  return round % 2 === 0 ? [first, second] : [second, first];
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** {@link round}, with null (no ratio: e.g. a baseline of 0) kept as null instead of NaN. */
export function roundOrNull(value: number | null, decimals = 3): number | null {
  return value === null ? null : round(value, decimals);
}

/** `value` rounded to `decimals` decimal places (keeps the JSON readable). */
export function round(value: number, decimals = 3): number {
  const factor = 10 ** decimals;
  return Number.isFinite(value) ? Math.round(value * factor) / factor : value;
}

/** Resolves when a server stream may be written again ('drain') or its call was cancelled (grpc-kit's backpressure). */
export function waitDrain(call: { on(event: 'drain' | 'cancelled', listener: () => void): unknown; off(event: 'drain' | 'cancelled', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}
