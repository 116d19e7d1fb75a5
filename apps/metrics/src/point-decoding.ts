/**
 * UploadMetrics' decode limit: what a point may cost before it is decoded. Two bounds, both
 * applied to the wire bytes before any object is built (grpc-kit `withDecodeLimit`):
 * - size: a message over MAX_POINT_BYTES ends the call with RESOURCE_EXHAUSTED (the largest
 *   point that can be accepted, 32 labels of 200-character names and values, is ~40 KB in
 *   UTF-8; the default 64 KiB leaves room);
 * - labels: a point carrying more label entries with a value than {@link labelEntryLimit}
 *   is decoded without its labels and rejected as "too many labels", like any point with too
 *   many labels (the call goes on), instead of decoding every entry into an object first.
 */
import { walkFields, withDecodeLimit } from '@grpc-patterns/grpc-kit';
import { metricsV1 } from '@grpc-patterns/proto';

/** Default MAX_POINT_BYTES: the largest UploadMetricsRequest decoded, bytes. */
export const DEFAULT_MAX_POINT_BYTES = 64 * 1024;

/** `labels` is field 4 of UploadMetricsRequest; each map entry is { key = 1, value = 2 }. */
const LABELS_FIELD = 4;
const ENTRY_VALUE_FIELD = 2;
const LEN = 2;

const labelsNotDecoded = Symbol('metrics.labelsNotDecoded');

/** A point decoded without its labels because it carried too many (see {@link decodePoint}). */
export type PointWithoutLabels = metricsV1.UploadMetricsRequest & { [labelsNotDecoded]: number };

/** Label entries with a value that a point counted on the wire, when they were too many to decode; undefined for a normally decoded point. */
export function undecodedLabelEntries(point: metricsV1.UploadMetricsRequest): number | undefined {
  return (point as Partial<PointWithoutLabels>)[labelsNotDecoded];
}

/**
 * Label entries with a value above which a point's labels are not decoded: 4 x maxLabels.
 * See README "Explanation: Decode limits".
 */
export function labelEntryLimit(maxLabels: number): number {
  return 4 * maxLabels;
}

/**
 * Decodes one UploadMetricsRequest; over `maxEntries` label entries with a value (counted on the wire)
 * it skips the labels and marks the point ({@link undecodedLabelEntries}).
 * @throws the generated decoder's error for malformed bytes.
 */
export function decodePoint(bytes: Buffer, maxEntries: number): metricsV1.UploadMetricsRequest {
  let withValue = 0;
  const wellFormed = walkFields(bytes, (field, wireType, start, end) => {
    if (field !== LABELS_FIELD || wireType !== LEN) return;
    let hasValue = false;
    walkFields(bytes, (f, w, s, e) => {
      if (f === ENTRY_VALUE_FIELD && w === LEN) hasValue = e > s;
    }, start, end);
    if (hasValue) withValue++;
  });
  if (!wellFormed || withValue <= maxEntries) return metricsV1.UploadMetricsRequest.decode(bytes);
  // Keep every field but the labels: name, value and time are small, and still validated first.
  // Fields are consecutive, so a field's tag starts where the previous field ended.
  const kept: Buffer[] = [];
  let keptFrom = 0;
  let fieldBegin = 0;
  walkFields(bytes, (field, _wireType, _start, end) => {
    if (field === LABELS_FIELD) {
      kept.push(bytes.subarray(keptFrom, fieldBegin));
      keptFrom = end;
    }
    fieldBegin = end;
  });
  kept.push(bytes.subarray(keptFrom));
  const point = metricsV1.UploadMetricsRequest.decode(Buffer.concat(kept)) as PointWithoutLabels;
  point[labelsNotDecoded] = withValue;
  return point;
}

/** MetricsService with UploadMetrics' decode limit: `maxPointBytes` per point, labels counted before decoding. */
export function limitedMetricsDefinition(limits: { maxPointBytes: number; maxLabels: number }): typeof metricsV1.MetricsServiceService {
  const maxEntries = labelEntryLimit(limits.maxLabels);
  return withDecodeLimit(metricsV1.MetricsServiceService, {
    uploadMetrics: { maxBytes: limits.maxPointBytes, decode: (bytes) => decodePoint(bytes, maxEntries) },
  });
}
