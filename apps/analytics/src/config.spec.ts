// Configuration and start-up: defaults, fail-fast errors naming the variable or file, and the
// AIRPORTS_CSV override (codes it does not know get empty names).
import { ConfigError, parseConfig } from '@grpc-patterns/config';
import { createLogger } from '@grpc-patterns/observability';
import { analyticsV1 } from '@grpc-patterns/proto';
import { collect } from '@grpc-patterns/testing';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRPORTS_CSV, FLIGHTS_PARQUET, startAnalytics } from '../test/harness.js';
import { createAnalyticsService } from './analytics-service.js';
import { analyticsConfigShape } from './config.js';

const silent = createLogger({ service: 'analytics', level: 'silent' });
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'analytics-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration', () => {
  it('defaults to port 50052, metrics 9102 and the vega-datasets files', () => {
    const config = parseConfig(analyticsConfigShape, {});
    expect(config).toMatchObject({ GRPC_PORT: 50052, METRICS_PORT: 9102, MAX_CONCURRENT_SCANS: 4, MAX_SCANS_PER_USER: 2, STREAM_STALL_TIMEOUT_MS: 30_000 });
    expect(config.FLIGHTS_PARQUET.endsWith(join('vega-datasets', 'data', 'flights-3m.parquet'))).toBe(true);
    expect(config.AIRPORTS_CSV.endsWith(join('vega-datasets', 'data', 'airports.csv'))).toBe(true);
    expect(existsSync(config.FLIGHTS_PARQUET) && existsSync(config.AIRPORTS_CSV)).toBe(true);
  });

  it('names a bad MAX_CONCURRENT_SCANS', () => {
    expect(() => parseConfig(analyticsConfigShape, { MAX_CONCURRENT_SCANS: '0' })).toThrow(new ConfigError('MAX_CONCURRENT_SCANS', 'must be at least 1 (got "0")'));
    expect(() => parseConfig(analyticsConfigShape, { MAX_CONCURRENT_SCANS: 'many' })).toThrow(new ConfigError('MAX_CONCURRENT_SCANS', 'must be a whole number (got "many")'));
    expect(() => parseConfig(analyticsConfigShape, { MAX_SCANS_PER_USER: '0' })).toThrow(new ConfigError('MAX_SCANS_PER_USER', 'must be at least 1 (got "0")'));
    expect(() => parseConfig(analyticsConfigShape, { STREAM_STALL_TIMEOUT_MS: '999' })).toThrow(new ConfigError('STREAM_STALL_TIMEOUT_MS', 'must be at least 1000 (got "999")'));
  });

  it('fails to start naming the file when FLIGHTS_PARQUET or AIRPORTS_CSV is missing or not parquet', async () => {
    const missing = join(dir, 'nope.parquet');
    await expect(createAnalyticsService({ flightsParquet: missing, airportsCsv: AIRPORTS_CSV, logger: silent })).rejects.toThrow(`cannot read FLIGHTS_PARQUET ${missing}: ENOENT`);
    const notParquet = join(dir, 'text.parquet');
    writeFileSync(notParquet, 'hello, this is not parquet');
    await expect(createAnalyticsService({ flightsParquet: notParquet, airportsCsv: AIRPORTS_CSV, logger: silent })).rejects.toThrow(`cannot read FLIGHTS_PARQUET ${notParquet}`);
    await expect(createAnalyticsService({ flightsParquet: FLIGHTS_PARQUET, airportsCsv: join(dir, 'x.csv'), logger: silent })).rejects.toThrow(`cannot read AIRPORTS_CSV ${join(dir, 'x.csv')}: ENOENT`);
  });

  it('joins names from an AIRPORTS_CSV override; unknown codes get empty names', async () => {
    const csv = join(dir, 'airports.csv');
    writeFileSync(csv, 'iata,name,city,state,country,latitude,longitude\nSFO,"Test Field, Main",Testville,CA,USA,0,0\n');
    const analytics = await startAnalytics({ airportsCsv: csv });
    try {
      const [message] = await collect(analytics.client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', limit: 1 })));
      expect(message.flights[0]).toMatchObject({ origin: 'SFO', originName: 'Test Field, Main', originCity: 'Testville', destinationName: '', destinationCity: '' });

      const stats = await collect(
        analytics.client.streamDelayStats(
          analyticsV1.StreamDelayStatsRequest.fromPartial({
            groupBy: analyticsV1.DelayStatsGroupBy.DELAY_STATS_GROUP_BY_ROUTE,
            origin: 'SFO',
            destination: message.flights[0].destination,
            fromDate: '2001-01-01',
            toDate: '2001-01-02',
          }),
        ),
      );
      expect(stats[0].stats[0]).toMatchObject({ key: `SFO-${message.flights[0].destination}`, name: '' });
    } finally {
      await analytics.close();
    }
  });
});
