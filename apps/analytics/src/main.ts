// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { loadConfigOrExit } from '@grpc-patterns/config';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { serve } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { createAnalyticsService } from './analytics-service.js';
import { analyticsConfigShape } from './config.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit('analytics', analyticsConfigShape);
  // Resolvers (etcd:, consul:) before any client exists; the registrar DISCOVERY asks for.
  const discovery = discoveryForServe(config, { service: 'analytics', healthService: 'analytics.v1.AnalyticsService' });
  const logger = createLogger({ service: 'analytics', level: config.LOG_LEVEL });
  const service = await createAnalyticsService({
    flightsParquet: config.FLIGHTS_PARQUET,
    airportsCsv: config.AIRPORTS_CSV,
    maxConcurrentScans: config.MAX_CONCURRENT_SCANS,
    maxScansPerUser: config.MAX_SCANS_PER_USER,
    streamStallTimeoutMs: config.STREAM_STALL_TIMEOUT_MS,
    logger,
  });
  await serve({
    config,
    logger,
    tracing,
    registry: createMetricsRegistry(),
    services: [service.registration],
    ...discovery,
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`analytics: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
