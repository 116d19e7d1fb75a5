/**
 * A progress bar for long server streams, on stderr and only when stderr is a terminal (a
 * bar in a log file or pipe is noise). Messages carry `rows_scanned` / `rows_total`, so the
 * bar shows how far the server's scan is, not how many rows matched.
 */
import { MultiBar, Presets } from 'cli-progress';
import type { Writer } from './format.js';

/** What the commands need from a progress display. */
export interface Progress {
  /** Sets the position: `scanned` of `total` (uint64 strings as ts-proto gives them). */
  update(scanned: string | number, total: string | number): void;
  /** Writes output text (whole lines, ending in "\n") without tearing the bar. */
  log(text: string): void;
  /** Removes nothing: draws the final state and a newline. Idempotent. */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Draw a bar at all (callers pass `stderr.isTTY && !--no-progress`). */
  enabled: boolean;
  /** Where the bar is drawn; default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Where output text goes. */
  out: Writer;
  /**
   * True when `out` is the same terminal as the bar: text then goes through the bar's log
   * buffer, which prints it above the bar on the next redraw. Otherwise (stdout piped to a
   * file) text is written to `out` directly.
   */
  outIsTerminal: boolean;
  label?: string;
}

/** A cli-progress bar when enabled, else a no-op that writes text straight to `out`. */
export function createProgress(options: ProgressOptions): Progress {
  if (!options.enabled) {
    return { update: () => undefined, log: (text) => options.out.write(text), stop: () => undefined };
  }
  const multi = new MultiBar(
    {
      stream: options.stream ?? process.stderr,
      format: `${options.label ?? 'scan'} [{bar}] {percentage}% | {value}/{total} rows | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  const bar = multi.create(1, 0);
  let stopped = false;
  return {
    update(scanned, total) {
      const t = Number(total);
      if (t > 0 && bar.getTotal() !== t) bar.setTotal(t);
      bar.update(Number(scanned));
    },
    log(text) {
      if (stopped || !options.outIsTerminal) options.out.write(text);
      else multi.log(text);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.update(); // flush text still in the log buffer before the final draw
      multi.stop();
    },
  };
}
