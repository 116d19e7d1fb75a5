// Instrumentation first: tracing will be set up here before grpc loads (interceptors issue).
import { loadConfigOrExit } from '@grpc-patterns/config';
import { startServer } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { createAnalyticsService } from './analytics-service.js';
import { analyticsConfigShape } from './config.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit('analytics', analyticsConfigShape);
  const logger = createLogger({ service: 'analytics', level: config.LOG_LEVEL });
  const service = await createAnalyticsService({
    flightsParquet: config.FLIGHTS_PARQUET,
    airportsCsv: config.AIRPORTS_CSV,
    maxConcurrentScans: config.MAX_CONCURRENT_SCANS,
    logger,
  });
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
  console.error(`analytics: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
