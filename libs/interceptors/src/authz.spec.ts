// The authorization policy (gRFC A43 shape) over real calls of all four shapes, behind the
// auth interceptor that verifies the token whose `roles` the policy reads.
import { checkHealth, closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { SHAPES, startShapeServer, type ShapeServer } from '../test/four-shapes.js';
import { authInterceptor, createTokenVerifier, staticKeySource } from './auth.js';
import { AUTHZ_ERROR_DOMAIN, authzInterceptor, evaluatePolicy, type AuthorizationPolicy } from './authz.js';
import { decodeStatusDetails } from './error-details.js';

const ISSUER = 'https://auth.test';
const AUDIENCE = 'grpc-patterns.test';

const policy: AuthorizationPolicy = {
  name: 'grpc-patterns',
  deny_rules: [{ name: 'no-banned-users', source: { principals: ['banned-user'] } }],
  allow_rules: [
    { name: 'admins-everything', source: { roles: ['admin'] }, request: { paths: ['*'] } },
    {
      name: 'users-read-and-chat',
      source: { roles: ['user'] },
      request: { paths: ['/auth.v1.AuthService/GetUser', '/analytics.v1.AnalyticsService/*', '/chat.v1.ChatService/*'] },
    },
  ],
};

let privateKey: CryptoKey;
async function token(sub: string, roles: string[]): Promise<{ metadata: Record<string, string> }> {
  const iat = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ roles, token_use: 'access' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .sign(privateKey);
  return { metadata: { authorization: `Bearer ${jwt}` } };
}

/** One call of each shape as `who`; "OK" or "CODE message" per shape. */
async function allShapes(server: ShapeServer, who: { metadata: Record<string, string> }): Promise<Record<string, string>> {
  const outcomes: Record<string, string> = {};
  for (const shape of SHAPES) {
    const result = await server.call(shape, who);
    outcomes[shape] = result.code === grpc.status.OK ? 'OK' : `${grpc.status[result.code]} ${result.details}`;
  }
  return outcomes;
}
const all = (outcome: string) => Object.fromEntries(SHAPES.map((shape) => [shape, outcome]));

describe('authzInterceptor', () => {
  let server: ShapeServer;
  let handledBefore = 0;
  /** Calls that reached a handler since the test started. */
  const handled = () => server.observed.contexts.length - handledBefore;
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const verifier = createTokenVerifier({ keySource: staticKeySource({ keys: [jwk], issuer: ISSUER, audience: AUDIENCE }) });
    server = await startShapeServer([authInterceptor({ verifier }), authzInterceptor({ policy })]);
  });
  afterAll(async () => {
    await server.close();
    closeAllChannels();
  });
  beforeEach(() => {
    handledBefore = server.observed.contexts.length;
  });

  const DENIED = 'PERMISSION_DENIED permission denied';

  it('allows what an allow rule matches, on all four call shapes', async () => {
    expect(await allShapes(server, await token('admin-1', ['admin']))).toEqual(all('OK'));
    expect(handled()).toBe(4);
    expect(server.observed.contexts.slice(-4).map((ctx) => ctx?.user)).toEqual(Array(4).fill({ id: 'admin-1', roles: ['admin'] }));
  });

  it('denies what no allow rule matches with PERMISSION_DENIED before the handler runs', async () => {
    expect(await allShapes(server, await token('user-1', ['user']))).toEqual({ unary: 'OK', server_stream: 'OK', client_stream: DENIED, bidi_stream: 'OK' });
    expect(handled()).toBe(3);
    expect(await allShapes(server, await token('nobody', []))).toEqual(all(DENIED));
    expect(handled()).toBe(3);
  });

  it('applies deny rules before allow rules', async () => {
    expect(await allShapes(server, await token('banned-user', ['admin']))).toEqual(all(DENIED));
    expect(handled()).toBe(0);
  });

  it('says why in a google.rpc.ErrorInfo', async () => {
    const banned = await server.call('unary', await token('banned-user', ['admin']));
    expect(decodeStatusDetails(banned.trailers)).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      message: 'permission denied',
      errorInfo: { reason: 'DENIED_BY_RULE', domain: AUTHZ_ERROR_DOMAIN, metadata: { method: '/auth.v1.AuthService/GetUser', rule: 'no-banned-users' } },
      otherTypeUrls: [],
    });
    const noRule = await server.call('client_stream', await token('user-1', ['user']));
    expect(decodeStatusDetails(noRule.trailers)?.errorInfo).toEqual({ reason: 'NO_MATCHING_ALLOW_RULE', domain: AUTHZ_ERROR_DOMAIN, metadata: { method: '/metrics.v1.MetricsService/UploadMetrics' } });
  });

  it('lets public methods (health) through without a token or a rule', async () => {
    expect(await checkHealth(server.target)).toBe('SERVING');
  });

  it('refuses with UNAUTHENTICATED when no user was authenticated (auth missing from the chain)', async () => {
    const alone = await startShapeServer([authzInterceptor({ policy })]);
    try {
      expect(await allShapes(alone, await token('admin-1', ['admin']))).toEqual(all('UNAUTHENTICATED missing bearer token'));
      expect(alone.observed.contexts.length).toBe(0);
    } finally {
      await alone.close();
    }
  });
});

describe('evaluatePolicy', () => {
  const user = (id: string, roles: string[]) => ({ id, roles });
  it('matches A43 path wildcards and principals', () => {
    const p: AuthorizationPolicy = {
      name: 'p',
      allow_rules: [
        { name: 'suffix', source: { principals: ['*'] }, request: { paths: ['*/GetUser'] } },
        { name: 'prefix', source: { principals: ['u1'] }, request: { paths: ['/orders.v1.OrderService/*'] } },
      ],
    };
    expect(evaluatePolicy(p, user('anyone', []), '/auth.v1.AuthService/GetUser')).toEqual({ allowed: true, rule: 'suffix' });
    expect(evaluatePolicy(p, user('u1', []), '/orders.v1.OrderService/PlaceOrder')).toEqual({ allowed: true, rule: 'prefix' });
    expect(evaluatePolicy(p, user('u2', []), '/orders.v1.OrderService/PlaceOrder')).toEqual({ allowed: false, reason: 'NO_MATCHING_ALLOW_RULE' });
    expect(evaluatePolicy(p, user('u1', []), '/orders.v1.OrderServiceX/PlaceOrder')).toEqual({ allowed: false, reason: 'NO_MATCHING_ALLOW_RULE' });
  });
  it('needs source and request to match, and any one role of a list', () => {
    const p: AuthorizationPolicy = { name: 'p', allow_rules: [{ name: 'r', source: { roles: ['a', 'b'] }, request: { paths: ['/x.v1.X/Y'] } }] };
    expect(evaluatePolicy(p, user('u', ['b']), '/x.v1.X/Y').allowed).toBe(true);
    expect(evaluatePolicy(p, user('u', ['c']), '/x.v1.X/Y').allowed).toBe(false);
    expect(evaluatePolicy(p, user('u', ['a']), '/x.v1.X/Z').allowed).toBe(false);
  });
});
