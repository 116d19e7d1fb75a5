/** The analytics service for runService (@grpc-patterns/runtime): config and handlers. */
import { parseConfig } from '@grpc-patterns/config';
import type { ServiceModule } from '@grpc-patterns/runtime';
import { createAnalyticsService } from './analytics-service.js';
import { analyticsConfigShape, type AnalyticsConfig } from './config.js';

export const loadConfig: ServiceModule<AnalyticsConfig>['loadConfig'] = (env) => parseConfig(analyticsConfigShape, env);

export const start: ServiceModule<AnalyticsConfig>['start'] = async ({ config, logger }) => {
  const service = await createAnalyticsService({
    flightsParquet: config.FLIGHTS_PARQUET,
    airportsCsv: config.AIRPORTS_CSV,
    maxConcurrentScans: config.MAX_CONCURRENT_SCANS,
    maxScansPerUser: config.MAX_SCANS_PER_USER,
    streamStallTimeoutMs: config.STREAM_STALL_TIMEOUT_MS,
    logger,
  });
  return { services: [service.registration], afterStop: [service.close] };
};
