// serve() builds the rate limiter from the config when the app brings none: RATE_LIMIT_RPS and
// RATE_LIMIT_BURST in memory, and with REDIS_URL in Redis, whose client it closes on shutdown.
// The Redis test runs when REDIS_URL is set (.ci/run sets it), is skipped with the reason
// otherwise, and fails under CI=true when it is missing or Redis is unreachable.
import { closeAllChannels, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { RATE_LIMITED_MESSAGE, staticKeySource } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry, setupTracing } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { describeRequiring, grpc } from '@grpc-patterns/testing';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { serve } from './serve.js';

const REDIS_URL = process.env['REDIS_URL'] || undefined;
const codeName = (code: grpc.status) => grpc.status[code] ?? String(code);
const logger = createLogger({ service: 'serve-test', level: 'silent' });

/** auth.v1.AuthService with only GetUser (the method the limits are counted on); the rest UNIMPLEMENTED. */
function authServices(): ServiceRegistration[] {
  const getUser: grpc.handleUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse> = (call, callback) =>
    callback(null, { user: { id: call.request.userId, username: 'u', displayName: 'U', roles: [] } });
  return [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: { getUser } }];
}

describe('serve() with RATE_LIMIT_RPS and RATE_LIMIT_BURST', () => {
  afterAll(() => closeAllChannels());

  it('a lower limit applies through serve(), in memory: RPS=5 BURST=0, the 6th call in the second is RESOURCE_EXHAUSTED', async () => {
    const tracing = setupTracing({ serviceName: 'serve-limit-test', exporter: new InMemorySpanExporter() });
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const running = await serve({
      config: { GRPC_HOST: '127.0.0.1', GRPC_PORT: 0, METRICS_PORT: 0, SHUTDOWN_GRACE_MS: 1_000, RATE_LIMIT_RPS: 5, RATE_LIMIT_BURST: 0 },
      logger,
      tracing,
      registry: createMetricsRegistry(),
      services: authServices(),
      keySource: staticKeySource({ keys: [jwk], issuer: 'iss', audience: 'aud' }),
    });
    const client = new authV1.AuthServiceClient(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    try {
      // Six calls at once from one user. The steady window is 1 s: a sample in which a stalled
      // machine spread the calls over more than 800 ms may straddle two windows and is redone
      // with a fresh user (a bucket of its own), up to 5 times.
      let codes: string[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const jwt = await new SignJWT({ roles: ['user'], token_use: 'access' }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).setIssuer('iss').setAudience('aud').setSubject(`limit-${attempt}`).setIssuedAt().setExpirationTime('5m').sign(privateKey);
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${jwt}`);
        const started = Date.now();
        codes = await Promise.all(
          Array.from({ length: 6 }, () => new Promise<string>((resolve) => client.getUser({ userId: 'u1' }, metadata, (e) => resolve(e ? `${codeName(e.code)}: ${e.details}` : 'OK')))),
        );
        if (Date.now() - started < 800) break;
      }
      expect(codes.sort()).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', `RESOURCE_EXHAUSTED: ${RATE_LIMITED_MESSAGE}`]);
    } finally {
      client.close();
      await running.shutdown('test finished');
    }
  });
});

describeRequiring('serve() with REDIS_URL (real Redis)', REDIS_URL ? undefined : 'REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379; .ci/run sets it)', () => {
  let admin: Redis;
  beforeAll(async () => {
    if (!REDIS_URL) throw new Error('Redis is required under CI=true: REDIS_URL is not set');
    // Connected here, or the suite fails: with REDIS_URL set an unreachable Redis is a failure.
    admin = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await admin.connect().catch((error: Error) => {
      throw new Error(`Redis at ${REDIS_URL} is not reachable: ${error.message}`);
    });
  });
  afterAll(() => {
    admin?.disconnect();
    closeAllChannels();
  });

  it('serve() with REDIS_URL in its config limits in Redis and closes its client on shutdown', async () => {
    const tracing = setupTracing({ serviceName: 'serve-redis-test', exporter: new InMemorySpanExporter() });
    const limiterClients = async () =>
      String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(' name=grpc-patterns-rate-limit '))
        .map((line) => /^id=(\d+)/.exec(line)?.[1]);
    const before = new Set(await limiterClients());
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const subject = `serve-test-${randomBytes(6).toString('hex')}`;
    const running = await serve({
      config: { GRPC_HOST: '127.0.0.1', GRPC_PORT: 0, METRICS_PORT: 0, SHUTDOWN_GRACE_MS: 1_000, REDIS_URL, RATE_LIMIT_FAIL: 'closed' },
      logger,
      tracing,
      registry: createMetricsRegistry(),
      services: authServices(),
      keySource: staticKeySource({ keys: [jwk], issuer: 'iss', audience: 'aud' }),
    });
    const ours = (await limiterClients()).filter((id) => !before.has(id));
    expect(ours).toHaveLength(1);
    const jwt = await new SignJWT({ roles: ['user'], token_use: 'access' }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).setIssuer('iss').setAudience('aud').setSubject(subject).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${jwt}`);
    const client = new authV1.AuthServiceClient(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    const code = await new Promise<string>((resolve) => client.getUser({ userId: 'u1' }, metadata, (e) => resolve(codeName(e?.code ?? grpc.status.OK))));
    client.close();
    // The steady bucket of this user and method is in Redis, with the default prefix.
    const key = `grpc-rl:steady:user:${subject}|/auth.v1.AuthService/GetUser`;
    expect([code, await admin.get(key)]).toEqual(['OK', '1']);
    await running.shutdown('test finished');
    expect((await limiterClients()).filter((id) => ours.includes(id))).toEqual([]);
    await admin.del(key);
  });
});
