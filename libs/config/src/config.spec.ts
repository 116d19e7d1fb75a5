import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, EXIT_CONFIG, loadConfigOrExit, parseConfig, rateLimitEnv, serviceEnv, target, z } from './index.js';

const shape = { ...serviceEnv({ grpcPort: 50051, metricsPort: 9101 }), AUTH_TARGET: target(), DATA_DIR: z.string().min(1) };

function problem(env: Record<string, string>, schema: z.ZodRawShape = shape): string {
  try {
    parseConfig(schema, env);
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
      TLS_MODE: 'off',
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

  it('reads the token bucket: RATE_LIMIT_RPS 100 and RATE_LIMIT_BURST 200 by default, whole numbers in bounds', () => {
    const limits = { ...shape, ...rateLimitEnv() };
    expect(parseConfig(limits, required)).toMatchObject({ RATE_LIMIT_RPS: 100, RATE_LIMIT_BURST: 200 });
    expect(parseConfig(limits, { ...required, RATE_LIMIT_RPS: '5', RATE_LIMIT_BURST: '0' })).toMatchObject({ RATE_LIMIT_RPS: 5, RATE_LIMIT_BURST: 0 });
    expect(parseConfig(limits, { ...required, RATE_LIMIT_RPS: '1000000', RATE_LIMIT_BURST: '10000000' })).toMatchObject({ RATE_LIMIT_RPS: 1_000_000, RATE_LIMIT_BURST: 10_000_000 });
    const bad = (env: Record<string, string>) => problem({ ...required, ...env }, limits);
    expect(bad({ RATE_LIMIT_RPS: '0' })).toBe('RATE_LIMIT_RPS: must be at least 1 (got "0")');
    expect(bad({ RATE_LIMIT_RPS: '1000001' })).toBe('RATE_LIMIT_RPS: must be at most 1000000 (got "1000001")');
    expect(bad({ RATE_LIMIT_RPS: '2.5' })).toBe('RATE_LIMIT_RPS: must be a whole number of calls per second (got "2.5")');
    expect(bad({ RATE_LIMIT_BURST: '-1' })).toBe('RATE_LIMIT_BURST: must be at least 0 (got "-1")');
    expect(bad({ RATE_LIMIT_BURST: '10000001' })).toBe('RATE_LIMIT_BURST: must be at most 10000000 (got "10000001")');
    expect(bad({ RATE_LIMIT_BURST: 'lots' })).toBe('RATE_LIMIT_BURST: must be a whole number of calls (got "lots")');
  });

  it('stops a service at start-up on a bad limit: one line naming the variable, exit 78', () => {
    const written: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`exit ${String(code)}`);
    });
    try {
      expect(() => loadConfigOrExit('auth', { ...shape, ...rateLimitEnv() }, { ...required, RATE_LIMIT_RPS: 'fast' })).toThrow(`exit ${EXIT_CONFIG}`);
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(EXIT_CONFIG).toBe(78);
    expect(written).toEqual(['auth: config error: RATE_LIMIT_RPS: must be a whole number of calls per second (got "fast")\n']);
  });

  it('accepts the target forms the architecture uses', () => {
    for (const t of ['ipv4:127.0.0.1:50051', 'dns:///auth:50051', 'consul://consul:8500/auth', 'etcd:///auth', 'auth:50051', 'unix:/tmp/a.sock']) {
      expect(parseConfig(shape, { ...required, AUTH_TARGET: t }).AUTH_TARGET).toBe(t);
    }
  });
});

describe('TLS variables', () => {
  const required = { AUTH_TARGET: 'ipv4:127.0.0.1:50051', DATA_DIR: '/tmp/x' };
  let dir: string;
  let files: { cert: string; key: string; otherKey: string; ca: string; junk: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'config-tls-'));
    // A self-signed P-256 certificate made by openssl, as any CA tool would write it.
    const key = join(dir, 'svc.key');
    const cert = join(dir, 'svc.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=svc', '-days', '1'], { stdio: 'ignore' });
    expect(new X509Certificate(readFileSync(cert)).subject).toBe('CN=svc');
    const otherKey = join(dir, 'other.key');
    writeFileSync(otherKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a pem\n');
    files = { cert, key, otherKey, ca: cert, junk };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is plaintext by default, and takes the files each mode needs', () => {
    expect(parseConfig(shape, required).TLS_MODE).toBe('off');
    expect(parseConfig(shape, { ...required, TLS_MODE: 'tls', TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key })).toMatchObject({ TLS_MODE: 'tls', TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key });
    expect(parseConfig(shape, { ...required, TLS_MODE: 'mtls', TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key, TLS_CA_FILE: files.ca })).toMatchObject({ TLS_MODE: 'mtls', TLS_CA_FILE: files.ca });
  });

  it('names the variable a mode is missing, in one line', () => {
    expect(problem({ ...required, TLS_MODE: 'tls' })).toBe('TLS_CERT_FILE: is required when TLS_MODE=tls');
    expect(problem({ ...required, TLS_MODE: 'tls', TLS_CERT_FILE: files.cert })).toBe('TLS_KEY_FILE: is required when TLS_MODE=tls');
    expect(problem({ ...required, TLS_MODE: 'mtls', TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key })).toBe('TLS_CA_FILE: is required when TLS_MODE=mtls');
    expect(problem({ ...required, TLS_MODE: 'on' })).toBe('TLS_MODE: must be one of off, tls, mtls (got "on")');
  });

  it('rejects files that are missing, not PEM, or a key that is not the certificate\'s', () => {
    const base = { ...required, TLS_MODE: 'mtls', TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key, TLS_CA_FILE: files.ca };
    expect(problem({ ...base, TLS_CA_FILE: join(dir, 'nope.crt') })).toBe(`TLS_CA_FILE: must be a readable file (ENOENT) (got ${JSON.stringify(join(dir, 'nope.crt'))})`);
    expect(problem({ ...base, TLS_CERT_FILE: files.junk })).toBe(`TLS_CERT_FILE: must be a PEM certificate file (got ${JSON.stringify(files.junk)})`);
    expect(problem({ ...base, TLS_KEY_FILE: files.cert })).toBe(`TLS_KEY_FILE: must be a PEM private key file (got ${JSON.stringify(files.cert)})`);
    expect(problem({ ...base, TLS_KEY_FILE: files.otherKey })).toBe(`TLS_KEY_FILE: is not the private key of TLS_CERT_FILE (got ${JSON.stringify(files.otherKey)})`);
  });
});
