/** The metrics service for runService (@grpc-patterns/runtime): config and handlers. */
import { parseConfig } from '@grpc-patterns/config';
import type { ServiceModule } from '@grpc-patterns/runtime';
import { metricsConfigShape, type MetricsConfig } from './config.js';
import { createMetricsService } from './metrics-service.js';

export const loadConfig: ServiceModule<MetricsConfig>['loadConfig'] = (env) => parseConfig(metricsConfigShape, env);

export const start: ServiceModule<MetricsConfig>['start'] = async ({ config, logger }) => {
  const service = createMetricsService({
    logger,
    limits: {
      maxSeries: config.MAX_SERIES,
      maxPointAgeMs: config.MAX_POINT_AGE_MS,
      maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
      maxPointsPerCall: config.MAX_POINTS_PER_CALL,
      maxPointBytes: config.MAX_POINT_BYTES,
    },
  });
  // Uploads in flight at SIGTERM may finish within SHUTDOWN_GRACE_MS; then forceShutdown cuts them.
  return {
    services: [service.registration],
    // UploadMetrics is the only method with sizeable requests: a point over MAX_POINT_BYTES is
    // refused at its length prefix, before grpc-js buffers it (the decode limit checks again).
    serverOptions: { 'grpc.max_receive_message_length': config.MAX_POINT_BYTES },
    afterStop: [service.close],
  };
};
