/**
 * metrics.v1.MetricsService: the client-streaming pattern. A client streams any number of
 * points and half-closes; the server folds each point into bounded per-call state as it
 * arrives and answers once with a summary.
 */
import { clientStreaming, GrpcError, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { metricsV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import { DEFAULT_MAX_POINT_BYTES, limitedMetricsDefinition } from './point-decoding.js';
import { DEFAULT_POINT_SHAPE_LIMITS } from './point-validation.js';
import { UploadAggregator, type AggregatorLimits } from './upload-aggregator.js';

/** All limits of the service; the first five come from the environment (config.ts). */
export interface MetricsLimits extends AggregatorLimits {
  /** Points one call may send before it fails with RESOURCE_EXHAUSTED. */
  maxPointsPerCall: number;
  /** Largest point decoded, bytes; a bigger one fails the call with RESOURCE_EXHAUSTED before decoding (point-decoding.ts). */
  maxPointBytes: number;
}

/** Defaults, equal to config.ts' defaults and {@link DEFAULT_POINT_SHAPE_LIMITS}. */
export const DEFAULT_METRICS_LIMITS: MetricsLimits = {
  maxSeries: 10_000,
  maxPointAgeMs: 7 * 86_400_000,
  maxClockSkewMs: 5 * 60_000,
  maxPointsPerCall: 10_000_000,
  maxPointBytes: DEFAULT_MAX_POINT_BYTES,
  ...DEFAULT_POINT_SHAPE_LIMITS,
};

/** Dependencies of {@link createMetricsService}. */
export interface MetricsServiceOptions {
  logger: Logger;
  /** Overrides of {@link DEFAULT_METRICS_LIMITS}. */
  limits?: Partial<MetricsLimits>;
  /** Current time, epoch ms, read once per point for the time-range check; default Date.now. */
  clock?: () => number;
}

/** What main.ts and tests start. */
export interface MetricsService {
  registration: ServiceRegistration;
  implementation: metricsV1.MetricsServiceServer;
  /** Nothing to release (state lives per call); kept so main.ts has one shape for all apps. */
  close(): Promise<void>;
}

/**
 * Builds the service; UploadMetrics folds each point in as it arrives (README "Explanation: Read as you go").
 * Errors: RESOURCE_EXHAUSTED on point maxPointsPerCall + 1 or for a point over maxPointBytes (before
 * decoding); CANCELLED / DEADLINE_EXCEEDED when the client goes; bad points are counted, not fatal.
 */
export function createMetricsService(options: MetricsServiceOptions): MetricsService {
  const limits: MetricsLimits = { ...DEFAULT_METRICS_LIMITS, ...options.limits };
  const clock = options.clock ?? Date.now;
  const { logger } = options;

  const implementation: metricsV1.MetricsServiceServer = {
    uploadMetrics: clientStreaming<metricsV1.UploadMetricsRequest, metricsV1.UploadMetricsResponse>(async (call, signal) => {
      const started = performance.now();
      const upload = new UploadAggregator(limits);
      try {
        for await (const point of call as AsyncIterable<metricsV1.UploadMetricsRequest>) {
          if (upload.receivedCount >= limits.maxPointsPerCall) {
            throw new GrpcError(status.RESOURCE_EXHAUSTED, `more than ${limits.maxPointsPerCall} points in one call; split the upload`);
          }
          upload.add(point, clock());
        }
        // A deadline or shutdown cancels first and then destroys the stream, which ends this
        // loop quietly (Node 20): without this check that cut-off upload would pass for whole.
        // A client's own cancel can still arrive as a plain end of stream (grpc-js reports the
        // RST_STREAM as 'end' before 'cancelled': grpc/grpc-node#205, #2583); harmless here,
        // as the summary has no side effects and nobody receives it.
        signal.throwIfAborted();
      } catch (error) {
        const footprint = { received: upload.receivedCount, durationMs: Math.round(performance.now() - started) };
        if (signal.aborted) {
          logger.info(footprint, 'upload cancelled');
          throw signal.reason;
        }
        if (error instanceof GrpcError) logger.warn({ ...footprint, code: status[error.code] }, `upload failed: ${error.message}`);
        throw error;
      }
      const response = upload.response();
      // The state's size is logged so operators (and the bounded-memory test) can see it.
      logger.info(
        {
          received: upload.receivedCount,
          accepted: Number(response.acceptedCount),
          rejected: Number(response.rejectedCount),
          ...upload.footprint(),
          durationMs: Math.round(performance.now() - started),
        },
        'upload finished',
      );
      return response;
    }),
  };

  return {
    registration: { name: 'metrics.v1.MetricsService', definition: limitedMetricsDefinition(limits), implementation },
    implementation,
    close: async () => undefined,
  };
}
