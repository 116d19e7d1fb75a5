import { ConfigError, parseConfig, rateLimitEnv, serviceEnv, target, z } from './index.js';

const shape = { ...serviceEnv({ grpc: 50051, metrics: 9101 }), AUTH_TARGET: target(), DATA_DIR: z.string().min(1) };

function problem(env: Record<string, string>): string {
  try {
    parseConfig(shape, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  const required = { AUTH_TARGET: 'ipv4:127.0.0.1:50051', DATA_DIR: '/tmp/x' };

  it('applies defaults and converts numbers', () => {
    expect(parseConfig(shape, required)).toEqual({
      GRPC_HOST: '0.0.0.0',
      GRPC_PORT: 50051,
      METRICS_PORT: 9101,
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: 10000,
      ...required,
    });
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfig(shape, { ...required, GRPC_PORT: '' }).GRPC_PORT).toBe(50051);
  });

  it('names a missing required variable in one line', () => {
    expect(problem({ DATA_DIR: '/d' })).toBe('AUTH_TARGET: is required but not set');
  });

  it('names a malformed variable with its value', () => {
    expect(problem({ ...required, GRPC_PORT: '70000' })).toBe('GRPC_PORT: must be at most 65535 (got "70000")');
    expect(problem({ ...required, GRPC_PORT: 'abc' })).toBe('GRPC_PORT: must be a whole number (got "abc")');
    expect(problem({ ...required, LOG_LEVEL: 'loud' })).toMatch(/^LOG_LEVEL: .*\(got "loud"\)$/);
    expect(problem({ ...required, AUTH_TARGET: 'not a target' })).toMatch(/^AUTH_TARGET: must be a gRPC target URI/);
  });

  it('masks the password of a URL it echoes', () => {
    const withUrl = { ...shape, DATABASE_URL: z.string().regex(/^postgres:\/\//, { message: 'must be a postgres:// URL' }) };
    expect(() => parseConfig(withUrl, { ...required, DATABASE_URL: 'mysql://app:s3cret@db/x' })).toThrow('DATABASE_URL: must be a postgres:// URL (got "mysql://app:***@db/x")');
  });

  it('reads the rate-limit store: REDIS_URL optional, RATE_LIMIT_FAIL open by default', () => {
    const withRedis = { ...shape, ...rateLimitEnv() };
    expect(parseConfig(withRedis, required)).toMatchObject({ RATE_LIMIT_FAIL: 'open' });
    expect(parseConfig(withRedis, required).REDIS_URL).toBeUndefined();
    expect(parseConfig(withRedis, { ...required, REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_FAIL: 'closed' })).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', RATE_LIMIT_FAIL: 'closed' });
    expect(() => parseConfig(withRedis, { ...required, REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/^REDIS_URL: /);
    expect(() => parseConfig(withRedis, { ...required, RATE_LIMIT_FAIL: 'maybe' })).toThrow(/^RATE_LIMIT_FAIL: .*\(got "maybe"\)$/);
  });

  it('accepts the target forms the architecture uses', () => {
    for (const t of ['ipv4:127.0.0.1:50051', 'dns:///auth:50051', 'consul://consul:8500/auth', 'etcd:///auth', 'auth:50051', 'unix:/tmp/a.sock']) {
      expect(parseConfig(shape, { ...required, AUTH_TARGET: t }).AUTH_TARGET).toBe(t);
    }
  });
});
