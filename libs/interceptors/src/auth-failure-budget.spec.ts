// The per-peer failure budget in front of the token check (issue 17, finding 5): forged tokens
// from one address cost at most `failures` signature checks per window, then RESOURCE_EXHAUSTED
// with RetryInfo without a check; good tokens never consume; other addresses are not affected.
import { closeAllChannels, unary, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { expectStatus, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { AUTH_FAILURES_EXCEEDED_MESSAGE, peerAddress, peerFailureBudget } from './auth-failure-budget.js';
import { authInterceptor, createTokenVerifier, staticKeySource, type CachingTokenVerifier, type TokenVerifier } from './auth.js';
import { decodeStatusDetails } from './error-details.js';
import { RETRY_PUSHBACK_KEY } from './rate-limit.js';

const ISSUER = 'https://auth.test';
const AUDIENCE = 'grpc-patterns.test';
const BUDGET = 5;

describe('peerAddress', () => {
  it.each([
    ['127.0.0.1:51234', '127.0.0.1'],
    ['::1:51234', '::1'],
    ['[::1]:51234', '::1'],
    ['::ffff:127.0.0.1:51234', '127.0.0.1'],
    ['2001:db8::7:443', '2001:db8::7'],
  ])('%s -> %s', (peer, host) => expect(peerAddress(peer)).toBe(host));
});

describe('auth interceptor with a per-peer failure budget', () => {
  let server: TestServer;
  let good: string;
  let forged: string;
  let verifications = 0;
  let inner: CachingTokenVerifier;

  beforeAll(async () => {
    const real = await generateKeyPair('ES256', { extractable: true });
    const attacker = await generateKeyPair('ES256');
    const jwk: JWK = { ...(await exportJWK(real.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const sign = (key: CryptoKey) =>
      new SignJWT({ roles: ['user'], token_use: 'access' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('user-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    good = await sign(real.privateKey);
    // Our kid, a valid shape, the attacker's key: only the signature check can tell.
    forged = await sign(attacker.privateKey);
    inner = createTokenVerifier({ keySource: staticKeySource({ keys: [jwk], issuer: ISSUER, audience: AUDIENCE }) });
    const verifier: TokenVerifier = {
      clockToleranceMs: inner.clockToleranceMs,
      verify: (token) => {
        verifications++;
        return inner.verify(token);
      },
      // The interceptor's synchronous path for a cached token.
      verifyCached: (token) => inner.verifyCached(token),
    };
    const implementation = {
      getUser: unary(async () => authV1.GetUserResponse.fromPartial({ user: { id: 'user-1' } })),
    } as unknown as authV1.AuthServiceServer;
    server = await startTestServer({
      services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation }],
      interceptors: [authInterceptor({ verifier, failureBudget: peerFailureBudget({ failures: BUDGET, windowS: 60 }) })],
    });
  });
  afterAll(async () => {
    await server.close();
    closeAllChannels();
  });

  function getUser(target: string, token: string) {
    const client = new authV1.AuthServiceClient(target, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    return unaryCall(client.getUser.bind(client), authV1.GetUserRequest.fromPartial({ userId: 'x' }), { metadata: md }).finally(() => client.close());
  }

  it('good tokens never consume; forged ones cost at most the budget in checks, then RESOURCE_EXHAUSTED with RetryInfo', async () => {
    const target = server.target;
    for (let i = 0; i < 20; i++) await getUser(target, good);
    // Checked once; the other 19 answered from the cache without awaiting (verifyCached).
    expect(verifications).toBe(1);
    expect(inner.cacheStats()).toMatchObject({ hits: 19, misses: 1 });
    verifications = 0;
    const codes: Record<string, number> = {};
    let lastError: grpc.ServiceError | undefined;
    for (let i = 0; i < 50; i++) {
      lastError = await expectStatus(getUser(target, forged));
      const name = grpc.status[lastError.code];
      codes[name] = (codes[name] ?? 0) + 1;
    }
    expect(codes).toEqual({ UNAUTHENTICATED: BUDGET, RESOURCE_EXHAUSTED: 50 - BUDGET });
    // The refused 45 reached no signature check.
    expect(verifications).toBe(BUDGET);
    expect(lastError?.details).toBe(AUTH_FAILURES_EXCEEDED_MESSAGE);
    const retry = decodeStatusDetails(lastError as grpc.ServiceError)?.retryDelayMs ?? 0;
    expect(retry).toBeGreaterThan(50_000);
    expect(retry).toBeLessThanOrEqual(60_000);
    expect(Number(lastError?.metadata.get(RETRY_PUSHBACK_KEY)[0])).toBe(retry);
    // The address is refused whatever token it sends until the window ends.
    expect((await expectStatus(getUser(target, good))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // ... a cached good token included: the budget is asked before the cache.
    expect(inner.cacheStats().hits).toBe(19);
  });

  it('another address keeps its own budget; 0 turns the budget off', async () => {
    const budget = peerFailureBudget({ failures: 2, windowS: 60 });
    await budget.failed('203.0.113.7:4000');
    expect(budget.spent?.('203.0.113.7:4000')).toBe(false);
    for (let i = 0; i < 2; i++) await budget.failed('203.0.113.7:4000');
    expect(budget.spent?.('203.0.113.7:4001')).toBe(true);
    expect(budget.spent?.('203.0.113.8:4000')).toBe(false);
    expect((await budget.blocked('203.0.113.7:4001'))?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // The same client through a dual-stack listener (IPv4-mapped) is the same address.
    expect((await budget.blocked('::ffff:203.0.113.7:4002'))?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await budget.blocked('203.0.113.8:4000')).toBeUndefined();
    const off = peerFailureBudget({ failures: 0 });
    for (let i = 0; i < 10; i++) await off.failed('203.0.113.7:4000');
    expect(await off.blocked('203.0.113.7:4000')).toBeUndefined();
    expect(off.spent?.('203.0.113.7:4000')).toBe(false);
  });
});
