/**
 * The metrics service's environment: the variables every service reads plus the limits that
 * keep one UploadMetrics call bounded in memory and time. Parsed once by main.ts with
 * `loadConfigOrExit`; a bad value stops start-up with one line naming the variable.
 */
import { milliseconds, authTargetEnv, discoveryEnv, rateLimitEnv, serviceEnv, wholeNumber, z } from '@grpc-patterns/config';
import { serviceManifest } from '@grpc-patterns/manifest';

const DAY_MS = 86_400_000;

/** zod shape of the metrics service's environment (exported for tests and tools). */
export const metricsConfigShape = {
  ...serviceEnv(serviceManifest('metrics')),
  /** DISCOVERY, CONSUL_HTTP_ADDR, ETCD_ENDPOINTS, SERVICE_VERSION, DISCOVERY_ADVERTISE_HOST (docs/discovery.md). */
  ...discoveryEnv(),
  /** REDIS_URL (rate limits shared by the replicas; unset: in memory), RATE_LIMIT_FAIL=open|closed (docs/interceptors.md). */
  ...rateLimitEnv(),
  /** Where auth is: its public keys verify the access tokens callers send. */
  ...authTargetEnv(),
  /**
   * Distinct series (name + labels) one call may create; a point of a new series past the cap
   * is rejected with reason "series limit". Each series costs at most ~33 KB (two sketch
   * stores of 2048 bins of 8 bytes), so 10,000 series is at most ~330 MB per call.
   */
  MAX_SERIES: wholeNumber(1, 100_000).prefault('10000'),
  /**
   * Points older than now minus this are rejected ("time too old"), ms; default 7 days. The
   * maximum, 100 years, allows backfilling historical series (the 2001 flights data).
   */
  MAX_POINT_AGE_MS: wholeNumber(0, 36_500 * DAY_MS).prefault(String(7 * DAY_MS)),
  /** Points later than now plus this are rejected ("time in the future"), ms; default 5 min, max 24 h. */
  MAX_CLOCK_SKEW_MS: milliseconds(5 * 60_000),
  /** Points one call may send; the next one fails the call with RESOURCE_EXHAUSTED. */
  MAX_POINTS_PER_CALL: wholeNumber(1, Number.MAX_SAFE_INTEGER).prefault('10000000'),
  /**
   * Largest point (one UploadMetricsRequest) decoded, bytes; a bigger one ends the call with
   * RESOURCE_EXHAUSTED before it is decoded. 1 KiB to 4 MiB (grpc's message limit), default 64 KiB.
   */
  MAX_POINT_BYTES: wholeNumber(1024, 4 * 1024 * 1024).prefault('65536'),
};

/** The parsed configuration. */
export type MetricsConfig = z.infer<z.ZodObject<typeof metricsConfigShape>>;
