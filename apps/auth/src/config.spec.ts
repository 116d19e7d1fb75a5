// The auth env shape: defaults, and one line naming a bad variable.
import { ConfigError, parseConfig } from '@grpc-patterns/config';
import { authConfigShape, parseAuthConfig } from './config.js';

function configError(env: Record<string, string>): string {
  try {
    parseConfig(authConfigShape, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('auth config', () => {
  it('has the documented defaults', () => {
    expect(parseConfig(authConfigShape, {})).toMatchObject({
      GRPC_HOST: '0.0.0.0',
      GRPC_PORT: 50051,
      METRICS_PORT: 9101,
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: 10_000,
      DATA_DIR: '.data/auth',
      JWT_ISSUER: 'grpc-patterns-auth',
      JWT_AUDIENCE: 'grpc-patterns',
      ACCESS_TOKEN_TTL_S: 900,
      REFRESH_TOKEN_TTL_S: 604_800,
      ADMIN_USERNAMES: [],
    });
  });

  it('reads every variable', () => {
    const config = parseConfig(authConfigShape, {
      DATA_DIR: '/var/lib/auth',
      JWT_ISSUER: 'https://auth.example',
      JWT_AUDIENCE: 'shop',
      ACCESS_TOKEN_TTL_S: '60',
      REFRESH_TOKEN_TTL_S: '3600',
      ADMIN_USERNAMES: ' root, ,ops ',
    });
    expect(config).toMatchObject({ DATA_DIR: '/var/lib/auth', JWT_ISSUER: 'https://auth.example', JWT_AUDIENCE: 'shop', ACCESS_TOKEN_TTL_S: 60, REFRESH_TOKEN_TTL_S: 3600, ADMIN_USERNAMES: ['root', 'ops'] });
  });

  it('names a bad variable and its value in one line', () => {
    expect(configError({ ACCESS_TOKEN_TTL_S: '15m' })).toBe('ACCESS_TOKEN_TTL_S: must be a whole number of seconds (got "15m")');
    expect(configError({ ACCESS_TOKEN_TTL_S: '0' })).toBe('ACCESS_TOKEN_TTL_S: must be at least 1 (got "0")');
    expect(configError({ ACCESS_TOKEN_TTL_S: '86401' })).toBe('ACCESS_TOKEN_TTL_S: must be at most 86400 (got "86401")');
    expect(configError({ REFRESH_TOKEN_TTL_S: '-5' })).toBe('REFRESH_TOKEN_TTL_S: must be at least 1 (got "-5")');
    expect(configError({ JWT_ISSUER: '   ' })).toMatch(/^JWT_ISSUER: .+ \(got " {3}"\)$/);
    expect(configError({ GRPC_PORT: '70000' })).toBe('GRPC_PORT: must be at most 65535 (got "70000")');
  });

  it('has the documented brute-force and scrypt defaults', () => {
    expect(parseAuthConfig({})).toMatchObject({
      LOGIN_FAILS_PER_USER_IP: 10,
      LOGIN_BLOCK_S: 3_600,
      LOGIN_FAILS_PER_IP: 100,
      LOGIN_FAILS_PER_USER: 50,
      REGISTER_PER_IP: 50,
      SCRYPT_MAX_CONCURRENT: 1,
      SCRYPT_MAX_QUEUE: 32,
      SCRYPT_MAX_PER_PEER: 8,
      AUTH_FAILURES_PER_PEER: 100,
      AUTH_FAILURE_WINDOW_S: 60,
    });
  });

  it('keeps SCRYPT_MAX_CONCURRENT below UV_THREADPOOL_SIZE, so a thread is always left for token checks', () => {
    const error = (env: Record<string, string>) => {
      try {
        parseAuthConfig(env);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(error({ SCRYPT_MAX_CONCURRENT: '4' })).toBe('SCRYPT_MAX_CONCURRENT: must be less than UV_THREADPOOL_SIZE (4), so token checks always find a free thread (got "4")');
    expect(error({ SCRYPT_MAX_CONCURRENT: '4', UV_THREADPOOL_SIZE: '8' })).toBe('no error');
    expect(error({ LOGIN_FAILS_PER_USER_IP: '0' })).toBe('LOGIN_FAILS_PER_USER_IP: must be at least 1 (got "0")');
    expect(error({ LOGIN_BLOCK_S: '604801' })).toBe('LOGIN_BLOCK_S: must be at most 604800 (got "604801")');
  });
});
