// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { loadConfigOrExit } from '@grpc-patterns/config';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { serve } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { metricsConfigShape } from './config.js';
import { createMetricsService } from './metrics-service.js';

async function main() {
  const config = loadConfigOrExit('metrics', metricsConfigShape);
  // Resolvers (etcd:, consul:) before any client exists; the registrar DISCOVERY asks for.
  const discovery = discoveryForServe(config, { service: 'metrics', healthService: 'metrics.v1.MetricsService' });
  const logger = createLogger({ service: 'metrics', level: config.LOG_LEVEL });
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
  // Uploads in flight at SIGTERM may finish within SHUTDOWN_GRACE_MS (tryShutdown waits for
  // them); after that forceShutdown cuts them.
  await serve({
    config,
    logger,
    tracing,
    registry: createMetricsRegistry(),
    services: [service.registration],
    // UploadMetrics is the only method with sizeable requests: a point over MAX_POINT_BYTES is
    // refused at its length prefix, before grpc-js buffers it (the decode limit checks again).
    serverOptions: { 'grpc.max_receive_message_length': config.MAX_POINT_BYTES },
    ...discovery,
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`metrics: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
