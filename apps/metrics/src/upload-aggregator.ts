/**
 * The state of one UploadMetrics call: counters, one SeriesStats per series (capped), the first
 * rejected points (capped) and a count per rejection reason (a fixed set). Every part is
 * bounded, so memory does not grow with the length of the stream.
 */
import { metricsV1 } from '@grpc-patterns/proto';
import { RejectReason, seriesKey, seriesLabels, validatePoint, type PointLimits, type Rejection } from './point-validation.js';
import { SeriesStats } from './series-stats.js';

/** RejectedPoint entries kept in a response (proto: "at most 100"). */
export const MAX_REJECTED_LISTED = 100;

/** Limits of one call's state. */
export interface AggregatorLimits extends PointLimits {
  /** Distinct series one call may create. */
  maxSeries: number;
}

/** How big one call's state is: what the bounded-memory claim is about. */
export interface AggregatorFootprint {
  series: number;
  /** Bins allocated by all series' sketches (8 bytes each). */
  sketchBins: number;
  rejectedListed: number;
}

/** Aggregates the points of one call; `add()` each point in stream order, then `response()`. */
export class UploadAggregator {
  private received = 0;
  private accepted = 0;
  private readonly series = new Map<string, SeriesStats>();
  private readonly rejected: metricsV1.RejectedPoint[] = [];
  private readonly rejectedByReason = new Map<RejectReason, number>();

  constructor(private readonly limits: AggregatorLimits) {}

  /** Points seen so far, accepted or not. */
  get receivedCount(): number {
    return this.received;
  }

  /** Validates and counts one point; `nowMs` (epoch ms) is the reference for the time range. */
  add(point: metricsV1.UploadMetricsRequest, nowMs: number): void {
    const index = this.received++;
    const rejection = validatePoint(point, nowMs, this.limits);
    if (rejection) return this.reject(index, rejection);

    const labels = seriesLabels(point.labels);
    const key = seriesKey(point.name, labels);
    let stats = this.series.get(key);
    if (!stats) {
      if (this.series.size >= this.limits.maxSeries) return this.reject(index, { field: '', reason: RejectReason.seriesLimit });
      stats = new SeriesStats(point.name, labels);
      this.series.set(key, stats);
    }
    stats.add(point.value, (point.time as Date).getTime());
    this.accepted++;
  }

  /** The summary: series in the order they were first seen. */
  response(): metricsV1.UploadMetricsResponse {
    return metricsV1.UploadMetricsResponse.fromPartial({
      receivedCount: String(this.received),
      acceptedCount: String(this.accepted),
      rejectedCount: String(this.received - this.accepted),
      series: [...this.series.values()].map((s) => s.summary()),
      rejected: this.rejected,
      rejectedByReason: Object.fromEntries([...this.rejectedByReason].map(([reason, n]) => [reason, String(n)])),
    });
  }

  /** Current size of the state (for logs and the bounded-memory test). */
  footprint(): AggregatorFootprint {
    let sketchBins = 0;
    for (const s of this.series.values()) sketchBins += s.sketchBins();
    return { series: this.series.size, sketchBins, rejectedListed: this.rejected.length };
  }

  private reject(index: number, { field, reason }: Rejection): void {
    this.rejectedByReason.set(reason, (this.rejectedByReason.get(reason) ?? 0) + 1);
    if (this.rejected.length < MAX_REJECTED_LISTED) this.rejected.push({ index: String(index), field, reason });
  }
}
