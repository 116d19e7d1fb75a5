// The full server chain (chain.ts) on all four call shapes: order effects that no single
// interceptor's spec can show — rejections are still traced, counted and logged; the request id
// reaches errors; the handler sees the authenticated user; validation runs after auth.
import { createMetricsRegistry, setupTracing, type Tracing } from '@grpc-patterns/observability';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { grpc } from '@grpc-patterns/testing';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { staticKeySource } from './auth.js';
import { serverInterceptorChain } from './chain.js';
import { decodeStatusDetails } from './error-details.js';
import { ValidationRegistry } from './validation.js';
import { RATE_LIMITER_UNAVAILABLE_MESSAGE } from './rate-limit.js';
import { rateLimiterFromConfig, type ConfiguredLimiter } from './rate-limit-store.js';
import { freePort } from '@grpc-patterns/testing';
import { captureLogger, OK_RESPONSES, PATHS, SHAPES, startShapeServer, type ShapeServer } from '../test/four-shapes.js';
import { chatV1 } from '@grpc-patterns/proto';

const ISSUER = 'chain-test-issuer';
const AUDIENCE = 'chain-test-audience';

describe('serverInterceptorChain (full chain, all four shapes)', () => {
  let server: ShapeServer;
  let privateKey: CryptoKey;
  let tracing: Tracing;
  const spans = new InMemorySpanExporter();
  const registry = createMetricsRegistry();
  const log = captureLogger();

  const token = (roles: string[] = ['user'], sub = 'user-1') =>
    new SignJWT({ roles, token_use: 'access', username: 'ada' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);

  beforeAll(async () => {
    tracing = setupTracing({ serviceName: 'chain-test', exporter: spans });
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    // Chat messages with text "bad" are rejected by a rule declared once, in the registry.
    const validation = new ValidationRegistry().add(chatV1.ChatServiceService.chat, (request) =>
      request.action?.$case === 'send' && request.action.send.text === 'm1' ? [{ field: 'send.text', description: 'must not be m1' }] : [],
    );
    server = await startShapeServer(
      serverInterceptorChain({ logger: log.logger, registry, keySource: staticKeySource({ keys: [jwk], issuer: ISSUER, audience: AUDIENCE }), validation }),
    );
  });
  afterAll(async () => {
    await server.close();
    await tracing.shutdown();
  });

  it.each(SHAPES)('%s: no token is UNAUTHENTICATED before the handler runs, with a request id', async (shape) => {
    const handlerCalls = server.observed.contexts.length;
    const result = await server.call(shape, { metadata: { 'x-request-id': `no-token-${shape}` } });
    expect([result.code, result.details, result.responses]).toEqual([grpc.status.UNAUTHENTICATED, 'missing bearer token', 0]);
    expect(server.observed.contexts.length).toBe(handlerCalls);
    const line = log.lines.find((l) => l.request_id === `no-token-${shape}`);
    expect(line).toMatchObject({ 'grpc.method': PATHS[shape], 'grpc.code': 'UNAUTHENTICATED', msg: 'finished call' });
    expect(String(line?.trace_id)).toMatch(/^[0-9a-f]{32}$/);
    // The rejected call still has its server span, with the status code.
    const span = spans.getFinishedSpans().find((s) => s.spanContext().traceId === line?.trace_id);
    expect(span?.attributes['rpc.grpc.status_code']).toBe(grpc.status.UNAUTHENTICATED);
  });

  it.each(SHAPES)('%s: a valid token reaches the handler with the user in the call context', async (shape) => {
    const before = server.observed.contexts.length;
    const result = await server.call(shape, { metadata: { authorization: `Bearer ${await token()}`, 'x-request-id': `ok-${shape}` }, messages: shape === 'bidi_stream' ? 1 : 3 });
    expect([result.code, result.responses]).toEqual([grpc.status.OK, shape === 'bidi_stream' ? 1 : OK_RESPONSES[shape]]);
    expect(result.headers?.get('x-request-id')).toEqual([`ok-${shape}`]);
    const ctx = server.observed.contexts[before];
    expect(ctx?.user).toEqual({ id: 'user-1', username: 'ada', roles: ['user'] });
    expect(log.lines.find((l) => l.request_id === `ok-${shape}`)).toMatchObject({ 'grpc.code': 'OK', user: 'user-1' });
  });

  it('a token without an allowed role is PERMISSION_DENIED (authz after auth)', async () => {
    const result = await server.call('unary', { metadata: { authorization: `Bearer ${await token(['guest'])}` } });
    expect([result.code, result.details]).toEqual([grpc.status.PERMISSION_DENIED, 'permission denied']);
  });

  it('validation runs per message after auth: the second chat message is rejected with BadRequest', async () => {
    const result = await server.call('bidi_stream', { metadata: { authorization: `Bearer ${await token()}` }, messages: 3 });
    expect([result.code, result.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'send.text: must not be m1']);
    expect(decodeStatusDetails(result.trailers)?.fieldViolations).toEqual([{ field: 'send.text', description: 'must not be m1' }]);
  });

  it('a handler that throws is INTERNAL "internal error" and the detail is only in the log', async () => {
    const result = await server.call('unary', { mode: 'throw', metadata: { authorization: `Bearer ${await token()}` } });
    expect([result.code, result.details]).toEqual([grpc.status.INTERNAL, 'internal error']);
  });

  it('the default limiter is a token bucket: 100/s steady plus a burst of 200, then RESOURCE_EXHAUSTED', async () => {
    // What the chain runs without a `limiter` option.
    const limiter = rateLimiterFromConfig({}, log.logger);
    let allowed = 0;
    let retryMs = 0;
    for (let i = 0; i < 301; i++) {
      const decision = await limiter.limit({ principal: 'user:u', path: '/m' });
      if (decision.kind === 'allow') allowed++;
      else if (decision.kind === 'reject') retryMs = decision.retryAfterMs;
    }
    expect(allowed).toBe(300);
    expect(retryMs).toBeGreaterThan(0);
  });

  it('counts every call, rejected ones included, per shape and code', async () => {
    const text = await registry.metrics();
    const handled = (type: string, code: string) => {
      const m = new RegExp(`^grpc_server_handled_total\\{grpc_type="${type}",grpc_service="[^"]+",grpc_method="[^"]+",grpc_code="${code}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    expect(SHAPES.map((s) => handled(s, 'UNAUTHENTICATED'))).toEqual([1, 1, 1, 1]);
    expect(SHAPES.map((s) => handled(s, 'OK'))).toEqual([1, 1, 1, 1]);
    expect(handled('unary', 'PERMISSION_DENIED')).toBe(1);
    expect(handled('bidi_stream', 'INVALID_ARGUMENT')).toBe(1);
    expect(handled('unary', 'INTERNAL')).toBe(1);
    expect(log.text.join('\n')).not.toMatch(/Bearer|eyJ/);
  });
});

describe('serverInterceptorChain with a configured limiter (limiter: rateLimiterFromConfig)', () => {
  let server: ShapeServer | undefined;
  let setup: ConfiguredLimiter | undefined;
  let privateKey: CryptoKey;
  let jwk: Record<string, unknown>;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  });
  afterEach(async () => {
    await server?.close();
    await setup?.close();
    server = undefined;
    setup = undefined;
  });
  const bearer = async () => ({
    authorization: `Bearer ${await new SignJWT({ roles: ['user'], token_use: 'access' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('user-1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey)}`,
  });
  /** The full chain on a limiter whose Redis is a loopback port nobody listens on. */
  const startWithUnreachableRedis = async (failMode: 'open' | 'closed') => {
    const log = captureLogger();
    setup = rateLimiterFromConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_FAIL: failMode }, log.logger);
    await setup.ready(5_000);
    server = await startShapeServer(
      serverInterceptorChain({ logger: log.logger, registry: createMetricsRegistry(), keySource: staticKeySource({ keys: [jwk], issuer: ISSUER, audience: AUDIENCE }), limiter: setup }),
    );
    return { server, log };
  };

  it('fail closed: an authenticated call is UNAVAILABLE before the handler; auth still answers first', async () => {
    const { server: s, log } = await startWithUnreachableRedis('closed');
    const results = [await s.call('unary', { metadata: await bearer() }), await s.call('server_stream', { metadata: await bearer() }), await s.call('unary')];
    expect(results.map((r) => [grpc.status[r.code], r.details])).toEqual([
      ['UNAVAILABLE', RATE_LIMITER_UNAVAILABLE_MESSAGE],
      ['UNAVAILABLE', RATE_LIMITER_UNAVAILABLE_MESSAGE],
      ['UNAUTHENTICATED', 'missing bearer token'],
    ]);
    expect(s.observed.contexts).toHaveLength(0);
    // The logging interceptor sees the rate limiter's status: one "finished call" line per call.
    expect(log.lines.filter((l) => l.msg === 'finished call').map((l) => l['grpc.code'])).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAUTHENTICATED']);
    expect(log.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['rate limiter store unavailable: calls rejected with UNAVAILABLE (fail closed)']);
  });

  it('fail open: authenticated calls reach the handler', async () => {
    const { server: s, log } = await startWithUnreachableRedis('open');
    const codes = [await s.call('unary', { metadata: await bearer() }), await s.call('unary', { metadata: await bearer() })].map((r) => grpc.status[r.code]);
    expect(codes).toEqual(['OK', 'OK']);
    expect(s.observed.contexts).toHaveLength(2);
    expect(log.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['rate limiter store unavailable: calls let through (fail open)']);
  });
});
