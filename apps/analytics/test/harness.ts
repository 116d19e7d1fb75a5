// Shared test helpers: the analytics service on a real in-process server, its captured log
// lines, and small stream utilities. Every spec builds the service the way main.ts does.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { analyticsV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createAnalyticsService, type AnalyticsService, type AnalyticsServiceOptions } from '../src/analytics-service.js';
import { vegaDatasetsDataDir } from '../src/config.js';

export const FLIGHTS_PARQUET = join(vegaDatasetsDataDir(), 'flights-3m.parquet');
export const AIRPORTS_CSV = join(vegaDatasetsDataDir(), 'airports.csv');

/** A running analytics service and a client on its own channel. */
export interface Analytics {
  server: TestServer;
  service: AnalyticsService;
  client: analyticsV1.AnalyticsServiceClient;
  /** The service logger's lines, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Builds the service (real data files unless overridden) and serves it on 127.0.0.1:0. */
export async function startAnalytics(options: Partial<AnalyticsServiceOptions> = {}): Promise<Analytics> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ service: 'analytics', destination });
  const service = await createAnalyticsService({ flightsParquet: FLIGHTS_PARQUET, airportsCsv: AIRPORTS_CSV, logger, ...options });
  const server = await startTestServer({ services: [service.registration], afterStop: [service.close] });
  const client = server.client(analyticsV1.AnalyticsServiceClient);
  return {
    server,
    service,
    client,
    logs,
    async close() {
      await server.close();
      closeAllChannels();
    },
  };
}

/** Resolves when `condition()` holds, checking every 20 ms; rejects after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves when `read()` returns the same value on `times` checks in a row, `everyMs` apart. */
export async function settled(read: () => number, times = 5, everyMs = 100): Promise<number> {
  let last = read();
  let same = 0;
  while (same < times) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** How a stream ended: OK or the error status. */
export function ended(stream: grpc.ClientReadableStream<unknown>): Promise<grpc.StatusObject> {
  return new Promise((resolve) => stream.on('status', resolve));
}

export { grpc };
