// Instrumentation first: tracing will be set up here before grpc loads (interceptors issue).
import { loadConfigOrExit } from '@grpc-patterns/config';
import { startServer } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { metricsConfigShape } from './config.js';
import { createMetricsService } from './metrics-service.js';

async function main() {
  const config = loadConfigOrExit('metrics', metricsConfigShape);
  const logger = createLogger({ service: 'metrics', level: config.LOG_LEVEL });
  const service = createMetricsService({
    logger,
    limits: {
      maxSeries: config.MAX_SERIES,
      maxPointAgeMs: config.MAX_POINT_AGE_MS,
      maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
      maxPointsPerCall: config.MAX_POINTS_PER_CALL,
    },
  });
  // Uploads in flight at SIGTERM may finish within SHUTDOWN_GRACE_MS (tryShutdown waits for
  // them); after that forceShutdown cuts them.
  await startServer({
    services: [service.registration],
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`metrics: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
