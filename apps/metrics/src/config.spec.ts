// The environment schema: documented defaults, and one line naming a bad variable.
import { ConfigError, parseConfig } from '@grpc-patterns/config';
import { metricsConfigShape } from './config.js';
import { DEFAULT_METRICS_LIMITS } from './metrics-service.js';

describe('metrics config', () => {
  it('defaults to port 50053, metrics port 9103 and the documented limits', () => {
    const config = parseConfig(metricsConfigShape, {});
    expect(config).toMatchObject({
      GRPC_PORT: 50053,
      METRICS_PORT: 9103,
      MAX_SERIES: 10_000,
      MAX_POINT_AGE_MS: 604_800_000,
      MAX_CLOCK_SKEW_MS: 300_000,
      MAX_POINTS_PER_CALL: 10_000_000,
      MAX_POINT_BYTES: 65_536,
    });
    expect(config.MAX_POINT_BYTES).toBe(DEFAULT_METRICS_LIMITS.maxPointBytes);
    expect([config.MAX_SERIES, config.MAX_POINT_AGE_MS, config.MAX_CLOCK_SKEW_MS, config.MAX_POINTS_PER_CALL]).toEqual([
      DEFAULT_METRICS_LIMITS.maxSeries,
      DEFAULT_METRICS_LIMITS.maxPointAgeMs,
      DEFAULT_METRICS_LIMITS.maxClockSkewMs,
      DEFAULT_METRICS_LIMITS.maxPointsPerCall,
    ]);
  });

  it('reads the limits from the environment', () => {
    const config = parseConfig(metricsConfigShape, { MAX_SERIES: '5', MAX_POINT_AGE_MS: '1000', MAX_CLOCK_SKEW_MS: '0', MAX_POINTS_PER_CALL: '7' });
    expect([config.MAX_SERIES, config.MAX_POINT_AGE_MS, config.MAX_CLOCK_SKEW_MS, config.MAX_POINTS_PER_CALL]).toEqual([5, 1000, 0, 7]);
  });

  it.each([
    ['MAX_SERIES', '0', 'MAX_SERIES: must be at least 1 (got "0")'],
    ['MAX_SERIES', 'many', 'MAX_SERIES: must be a whole number (got "many")'],
    ['MAX_POINTS_PER_CALL', '-1', 'MAX_POINTS_PER_CALL: must be at least 1 (got "-1")'],
    ['MAX_CLOCK_SKEW_MS', '86400001', 'MAX_CLOCK_SKEW_MS: must be at most 86400000 (got "86400001")'],
    ['MAX_POINT_BYTES', '100', 'MAX_POINT_BYTES: must be at least 1024 (got "100")'],
  ])('rejects %s=%s with one line naming it', (variable, value, message) => {
    expect(() => parseConfig(metricsConfigShape, { [variable]: value })).toThrow(new ConfigError(variable, message.slice(variable.length + 2)));
  });
});
