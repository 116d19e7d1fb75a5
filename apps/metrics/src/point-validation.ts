/**
 * Validation of one metric point. A bad point is not an error of the call: it is counted and
 * reported in the summary with the field at fault and a reason from the fixed set below (a
 * fixed set, so `rejected_by_reason` stays small however many points are rejected).
 */
import type { metricsV1 } from '@grpc-patterns/proto';
import { undecodedLabelEntries } from './point-decoding.js';

/** Metric names, as Prometheus defines them (prometheus.io/docs/concepts/data_model). */
export const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Label names, as Prometheus defines them; names starting with "__" are reserved there. */
export const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Every reason a point can be rejected for: the keys of `rejected_by_reason`. */
export const RejectReason = {
  nameMissing: 'name missing',
  nameInvalid: 'name invalid',
  nameTooLong: 'name too long',
  valueNotFinite: 'value not finite',
  timeMissing: 'time missing',
  /** A Timestamp a JavaScript Date cannot hold (beyond ±8.64e15 ms from the epoch). */
  timeOutOfRange: 'time out of range',
  timeTooOld: 'time too old',
  timeInFuture: 'time in the future',
  labelNameInvalid: 'label name invalid',
  labelNameReserved: 'label name reserved',
  labelNameTooLong: 'label name too long',
  labelValueTooLong: 'label value too long',
  tooManyLabels: 'too many labels',
  /** The point is valid but would start a series past MAX_SERIES. */
  seriesLimit: 'series limit',
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** Proto field at fault; "" for "series limit", where no field is wrong. */
export type RejectField = 'name' | 'value' | 'time' | 'labels' | '';

/** Why one point was rejected. */
export interface Rejection {
  field: RejectField;
  reason: RejectReason;
}

/** Limits a single point must respect. Lengths count UTF-16 code units (string.length). */
export interface PointLimits {
  /** Oldest accepted `time`: now minus this, ms. */
  maxPointAgeMs: number;
  /** Latest accepted `time`: now plus this, ms. */
  maxClockSkewMs: number;
  /** Labels with a non-empty value per point. */
  maxLabels: number;
  /** Longest metric name or label name. */
  maxNameLength: number;
  /** Longest label value. */
  maxLabelValueLength: number;
}

/**
 * Limits not configured from the environment: 32 labels, names and label values of at most 200
 * characters (Datadog's metric name and tag limits), so a series key stays under ~13 KB.
 * See README "Explanation: Bounded state".
 */
export const DEFAULT_POINT_SHAPE_LIMITS = { maxLabels: 32, maxNameLength: 200, maxLabelValueLength: 200 } as const;

/**
 * Checks one point against `limits` at `nowMs` (epoch ms), in the order name, value, time, labels;
 * labels with an empty value count as absent, as in Prometheus.
 * @returns undefined when the point is acceptable, else the first field at fault and the reason.
 */
export function validatePoint(point: metricsV1.UploadMetricsRequest, nowMs: number, limits: PointLimits): Rejection | undefined {
  if (point.name === '') return { field: 'name', reason: RejectReason.nameMissing };
  if (point.name.length > limits.maxNameLength) return { field: 'name', reason: RejectReason.nameTooLong };
  if (!METRIC_NAME_PATTERN.test(point.name)) return { field: 'name', reason: RejectReason.nameInvalid };

  if (!Number.isFinite(point.value)) return { field: 'value', reason: RejectReason.valueNotFinite };

  if (point.time === undefined) return { field: 'time', reason: RejectReason.timeMissing };
  const timeMs = point.time.getTime();
  if (Number.isNaN(timeMs)) return { field: 'time', reason: RejectReason.timeOutOfRange };
  if (timeMs < nowMs - limits.maxPointAgeMs) return { field: 'time', reason: RejectReason.timeTooOld };
  if (timeMs > nowMs + limits.maxClockSkewMs) return { field: 'time', reason: RejectReason.timeInFuture };

  // Counted on the wire and found far over the limit, so not decoded (point-decoding.ts).
  if (undecodedLabelEntries(point) !== undefined) return { field: 'labels', reason: RejectReason.tooManyLabels };
  let labels = 0;
  for (const [name, value] of Object.entries(point.labels)) {
    if (value === '') continue;
    if (name.length > limits.maxNameLength) return { field: 'labels', reason: RejectReason.labelNameTooLong };
    if (!LABEL_NAME_PATTERN.test(name)) return { field: 'labels', reason: RejectReason.labelNameInvalid };
    if (name.startsWith('__')) return { field: 'labels', reason: RejectReason.labelNameReserved };
    if (value.length > limits.maxLabelValueLength) return { field: 'labels', reason: RejectReason.labelValueTooLong };
    if (++labels > limits.maxLabels) return { field: 'labels', reason: RejectReason.tooManyLabels };
  }
  return undefined;
}

/** The series' labels: non-empty values only, keys sorted, so label order never matters. */
export function seriesLabels(labels: Record<string, string>): Record<string, string> {
  const sorted: Record<string, string> = {};
  for (const name of Object.keys(labels).sort()) if (labels[name] !== '') sorted[name] = labels[name];
  return sorted;
}

/** A string identifying a series: name + sorted non-empty labels, unambiguous (JSON). */
export function seriesKey(name: string, sortedLabels: Record<string, string>): string {
  return JSON.stringify([name, ...Object.entries(sortedLabels).flat()]);
}
