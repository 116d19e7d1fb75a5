/**
 * The analytics service's environment (zod shape). Exported so tests and tools parse the same
 * variables the process does; `loadConfigOrExit('analytics', analyticsConfigShape)` in main.ts
 * stops start-up with one line naming a bad variable.
 */
import { dirname, join } from 'node:path';
import { path, authTargetEnv, discoveryEnv, rateLimitEnv, serviceEnv, wholeNumber, z } from '@grpc-patterns/config';
import { serviceManifest } from '@grpc-patterns/manifest';

/**
 * The `data/` folder of the installed `vega-datasets` package. Its `exports` map does not
 * expose `package.json`, so the package entry (`build/index.js`) is resolved and `../data`
 * taken from there.
 */
export function vegaDatasetsDataDir(): string {
  return join(dirname(require.resolve('vega-datasets')), '..', 'data');
}

/** Environment shape: the shared service variables plus where the data files are. */
export const analyticsConfigShape = {
  ...serviceEnv(serviceManifest('analytics')),
  /** DISCOVERY, CONSUL_HTTP_ADDR, ETCD_ENDPOINTS, SERVICE_VERSION, DISCOVERY_ADVERTISE_HOST (docs/discovery.md). */
  ...discoveryEnv(),
  /** REDIS_URL (rate limits shared by the replicas; unset: in memory), RATE_LIMIT_FAIL=open|closed (docs/interceptors.md). */
  ...rateLimitEnv(),
  /** Where auth is: its public keys verify the access tokens callers send. */
  ...authTargetEnv(),
  /** The flights parquet file (default: vega-datasets `data/flights-3m.parquet`). */
  FLIGHTS_PARQUET: path(join(vegaDatasetsDataDir(), 'flights-3m.parquet')),
  /** airports.csv with iata,name,city,... (default: vega-datasets `data/airports.csv`). */
  AIRPORTS_CSV: path(join(vegaDatasetsDataDir(), 'airports.csv')),
  /**
   * Scans (open StreamFlights/StreamDelayStats calls) allowed at once; one more is answered
   * RESOURCE_EXHAUSTED. Each scan holds one decoded row group (one full scan took the
   * process from 79 MB to ~200-300 MB peak RSS).
   */
  MAX_CONCURRENT_SCANS: z
    .string()
    .trim()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(1, { message: 'must be at least 1' }).max(64, { message: 'must be at most 64' }))
    .prefault('4'),
  /**
   * Scans one user (the access token's `sub`) may hold at once, out of MAX_CONCURRENT_SCANS;
   * one more is answered RESOURCE_EXHAUSTED "... for this user ...". Above MAX_CONCURRENT_SCANS
   * it has no effect (the global limit applies first).
   */
  MAX_SCANS_PER_USER: wholeNumber(1, 64).prefault('2'),
  /**
   * How long a stream may wait for its client to read (HTTP/2 flow control full), ms; then it
   * ends with RESOURCE_EXHAUSTED "client not reading for N s; stream ended" and frees its
   * scan slot. 1 s to 1 h, default 30 s.
   */
  STREAM_STALL_TIMEOUT_MS: wholeNumber(1_000, 3_600_000).prefault('30000'),
};

/** The parsed configuration. */
export type AnalyticsConfig = z.infer<z.ZodObject<typeof analyticsConfigShape>>;
