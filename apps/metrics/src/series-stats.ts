/**
 * Running statistics of one series in constant memory: exact count, min, max and mean, and
 * quantiles from a DDSketch (Masson, Rim & Lee, "DDSketch: a fast and fully-mergeable quantile
 * sketch with relative-error guarantees", VLDB 2019) via Datadog's `@datadog/sketches-js`.
 * Nothing is sorted and no point is kept.
 */
import { LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';
import type { metricsV1 } from '@grpc-patterns/proto';

/** Relative accuracy of the quantiles: a reported p99 is within 1% of the true p99's value. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

/**
 * Sketch bins per sign, the library's default: ~17 decades at 1% accuracy, so at most 2 x 2048 bins
 * (8 bytes each) per series. See README "Explanation: Quantiles".
 */
export const SKETCH_BIN_LIMIT = 2048;

/**
 * Statistics of one series: exact count, min, max and mean; sketch quantiles clamped to [min, max].
 * Zero, negative and huge values: README "Explanation: Quantiles" (checked against sketches-js v2.1.1).
 */
export class SeriesStats {
  private readonly sketch = new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY, binLimit: SKETCH_BIN_LIMIT });
  private count = 0;
  private sum = 0;
  private runningMean = 0;
  private min = Infinity;
  private max = -Infinity;
  private firstTimeMs = Infinity;
  private lastTimeMs = -Infinity;

  constructor(
    readonly name: string,
    /** Sorted, non-empty labels (see `seriesLabels`). */
    readonly labels: Record<string, string>,
  ) {}

  /** Adds one finite value observed at `timeMs` (epoch ms). */
  add(value: number, timeMs: number): void {
    const v = value + 0; // -0 becomes 0, so min/max never report "-0"
    this.sketch.accept(v);
    this.count++;
    this.sum += v;
    // Kept in case sum overflows (values near Number.MAX_VALUE); less exact otherwise.
    this.runningMean += (v - this.runningMean) / this.count;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (timeMs < this.firstTimeMs) this.firstTimeMs = timeMs;
    if (timeMs > this.lastTimeMs) this.lastTimeMs = timeMs;
  }

  /** Bins allocated by the sketch's two stores: the size of this series' state. */
  sketchBins(): number {
    return this.sketch.store.bins.length + this.sketch.negativeStore.bins.length;
  }

  /**
   * The summary. p50/p95/p99 are the sketch's lower quantiles: within 1% (relative) of the
   * sorted values' element at index floor(q * (count - 1)). first_time and last_time are the
   * earliest and latest `time` of the accepted points (not their stream order), ms precision.
   */
  summary(): metricsV1.SeriesSummary {
    return {
      name: this.name,
      labels: this.labels,
      count: String(this.count),
      min: this.min,
      max: this.max,
      mean: Number.isFinite(this.sum) ? this.sum / this.count : this.runningMean,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
      firstTime: new Date(this.firstTimeMs),
      lastTime: new Date(this.lastTimeMs),
    };
  }

  private quantile(q: number): number {
    return Math.min(this.max, Math.max(this.min, this.sketch.getValueAtQuantile(q)));
  }
}
