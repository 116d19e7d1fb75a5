// Rate limiting over real calls: exact allowed counts per (principal, method), then
// RESOURCE_EXHAUSTED with google.rpc.RetryInfo and the gRFC A6 pushback trailer, decoded.
import { checkHealth, closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { memoryLimiter, SHAPES, startShapeServer, type CallResult, type ShapeServer } from '../test/four-shapes.js';
import { authInterceptor, createTokenVerifier, staticKeySource } from './auth.js';
import { decodeStatusDetails } from './error-details.js';
import { matchesMethodPattern } from './public-methods.js';
import {
  LIMIT_ALLOW,
  LIMIT_UNAVAILABLE,
  RATE_LIMITED_MESSAGE,
  RATE_LIMITER_UNAVAILABLE_MESSAGE,
  rateLimitInterceptor,
  rateLimitPrincipal,
  RETRY_PUSHBACK_KEY,
  type LimitDecision,
  type Limiter,
} from './rate-limit.js';

/** What a client reads from a call: OK, or the code, message, RetryInfo delay and pushback trailer. */
function outcome(result: CallResult) {
  if (result.code === grpc.status.OK) return 'OK';
  const retryDelayMs = decodeStatusDetails(result.trailers)?.retryDelayMs;
  const pushback = Number(result.trailers.get(RETRY_PUSHBACK_KEY)[0]);
  return { code: grpc.status[result.code], message: result.details, pushbackEqualsRetryDelay: pushback === retryDelayMs, withinWindow: pushback > 0 && pushback <= 60_000 };
}
const EXHAUSTED = { code: 'RESOURCE_EXHAUSTED', message: RATE_LIMITED_MESSAGE, pushbackEqualsRetryDelay: true, withinWindow: true };

describe('rateLimitInterceptor', () => {
  let server: ShapeServer | undefined;
  const start = async (interceptors: grpc.ServerInterceptor[]) => {
    server = await startShapeServer(interceptors);
    return server;
  };
  /** Calls that reached a handler. */
  const handled = () => server?.observed.contexts.length;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  afterAll(() => closeAllChannels());

  it('allows exactly N calls per window, then RESOURCE_EXHAUSTED with RetryInfo and grpc-retry-pushback-ms', async () => {
    const s = await start([rateLimitInterceptor({ limiter: memoryLimiter(3) })]);
    const results: CallResult[] = [];
    for (let i = 0; i < 5; i++) results.push(await s.call('unary'));
    expect(results.map(outcome)).toEqual(['OK', 'OK', 'OK', EXHAUSTED, EXHAUSTED]);
    expect(handled()).toBe(3);
    // RetryInfo (google.rpc, in grpc-status-details-bin) says the wait in whole ms
    const details = decodeStatusDetails(results[3]?.trailers ?? new grpc.Metadata());
    expect(details).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, message: RATE_LIMITED_MESSAGE, retryDelayMs: expect.any(Number), otherTypeUrls: [] });
    expect(Number.isInteger(details?.retryDelayMs)).toBe(true);
  });

  it.each(SHAPES)('limits %s calls, one point per call however many messages it carries', async (shape) => {
    const s = await start([rateLimitInterceptor({ limiter: memoryLimiter(1) })]);
    expect(outcome(await s.call(shape, { messages: 5 }))).toBe('OK');
    expect(outcome(await s.call(shape, { messages: 1 }))).toEqual(EXHAUSTED);
    expect(handled()).toBe(1);
  });

  it('gives each authenticated user their own budget, per method', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const verifier = createTokenVerifier({ keySource: staticKeySource({ keys: [jwk], issuer: 'iss', audience: 'aud' }) });
    const s = await start([authInterceptor({ verifier }), rateLimitInterceptor({ limiter: memoryLimiter(2) })]);
    const as = async (sub: string) => {
      const iat = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({ roles: [], token_use: 'access' }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).setIssuer('iss').setAudience('aud').setSubject(sub).setIssuedAt(iat).setExpirationTime(iat + 300).sign(privateKey);
      return { metadata: { authorization: `Bearer ${jwt}` } };
    };
    const code = async (shape: 'unary' | 'server_stream', options: { metadata: Record<string, string> }) => grpc.status[(await s.call(shape, options)).code];
    const alice = await as('alice');
    const bob = await as('bob');
    const codes = [await code('unary', alice), await code('unary', alice), await code('unary', alice), await code('unary', bob), await code('unary', bob), await code('unary', bob), await code('server_stream', alice)];
    expect(codes).toEqual(['OK', 'OK', 'RESOURCE_EXHAUSTED', 'OK', 'OK', 'RESOURCE_EXHAUSTED', 'OK']);
  });

  it('uses per-method limiters and never limits health checks', async () => {
    // Per-method limits are a Limiter of their own: the call names its method path.
    const fallback = memoryLimiter(1);
    const auth = memoryLimiter(4);
    const byMethod: Limiter = { limit: (c) => (matchesMethodPattern(c.path, '/auth.v1.AuthService/*') ? auth : fallback).limit(c) };
    const s = await start([rateLimitInterceptor({ limiter: byMethod })]);
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(grpc.status[(await s.call('unary')).code] ?? '');
    expect(codes).toEqual(['OK', 'OK', 'OK', 'OK', 'RESOURCE_EXHAUSTED']);
    for (let i = 0; i < 3; i++) expect(await checkHealth(s.target)).toBe('SERVING');
  });

  it('lets calls through when the limiter store fails (fail open) and reports it', async () => {
    const storeErrors: unknown[] = [];
    // A store failure is the limiter's decision (rate-limit-store.ts): failing open, it allows.
    const broken: Limiter = {
      limit: () => {
        storeErrors.push(new Error('redis down'));
        return LIMIT_ALLOW;
      },
    };
    const s = await start([rateLimitInterceptor({ limiter: broken })]);
    expect(outcome(await s.call('unary'))).toBe('OK');
    expect(storeErrors.map((e) => (e as Error).message)).toEqual(['redis down']);
  });

  it.each(SHAPES)('fail closed: a %s call whose store fails ends UNAVAILABLE before the handler; over the limit is still RESOURCE_EXHAUSTED', async (shape) => {
    const storeErrors: unknown[] = [];
    let storeUp = true;
    const memory = memoryLimiter(1);
    // Answers asynchronously, as the Redis limiter does; failing closed, a store failure is `unavailable`.
    const flaky: Limiter = {
      limit: async (c): Promise<LimitDecision> => {
        if (storeUp) return memory.limit(c);
        storeErrors.push(new Error('redis down'));
        return LIMIT_UNAVAILABLE;
      },
    };
    const s = await start([rateLimitInterceptor({ limiter: flaky })]);
    const first = outcome(await s.call(shape, { messages: 2 }));
    storeUp = false;
    const down = await s.call(shape, { messages: 2 });
    storeUp = true;
    const after = outcome(await s.call(shape, { messages: 2 }));
    expect([first, [grpc.status[down.code], down.details], after]).toEqual(['OK', ['UNAVAILABLE', RATE_LIMITER_UNAVAILABLE_MESSAGE], EXHAUSTED]);
    // No RetryInfo on UNAVAILABLE: how long the store stays down is unknown.
    expect(decodeStatusDetails(down.trailers)).toBeUndefined();
    expect([handled(), storeErrors.length]).toEqual([1, 1]);
  });
});

describe('rateLimitInterceptor with a limiter that fails', () => {
  afterAll(() => closeAllChannels());

  it.each([
    ['throws', (): LimitDecision => { throw new Error('limiter bug'); }],
    ['rejects', (): Promise<LimitDecision> => Promise.reject(new Error('limiter bug'))],
  ])('a limiter that %s ends the call INTERNAL "internal error" before the handler, and is reported', async (_how, limit) => {
    const reported: string[] = [];
    const server = await startShapeServer([rateLimitInterceptor({ limiter: { limit }, report: (e, path) => reported.push(`${path}: ${(e as Error).message}`) })]);
    try {
      const result = await server.call('unary');
      expect([grpc.status[result.code], result.details, server.observed.contexts.length]).toEqual(['INTERNAL', 'internal error', 0]);
      expect(reported).toEqual(['/auth.v1.AuthService/GetUser: limiter bug']);
    } finally {
      await server.close();
    }
  });
});

describe('rateLimitPrincipal', () => {
  it('keys by user id, else by peer address without the port', () => {
    expect(rateLimitPrincipal({ id: 'u1', roles: [] }, '127.0.0.1:5000')).toBe('user:u1');
    expect(rateLimitPrincipal(undefined, '127.0.0.1:5000')).toBe('peer:127.0.0.1');
    expect(rateLimitPrincipal(undefined, '[::1]:5000')).toBe('peer:::1');
    expect(rateLimitPrincipal(undefined, 'unknown')).toBe('peer:unknown');
  });
});
