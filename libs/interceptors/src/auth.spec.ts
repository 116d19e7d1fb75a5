// The auth interceptor against real calls: keys fetched over gRPC from an in-process
// AuthService (GetPublicKeys), tokens signed with jose, every call shape, the classic bad
// tokens, key rotation with the refetch cooldown, and streams ended when their token expires.
import { closeAllChannels, GrpcError, serverStreaming, unary, unaryCall, bidiStreaming, clientStreaming, writeMessage, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1 } from '@grpc-patterns/proto';
import { checkHealth } from '@grpc-patterns/grpc-kit';
import { collect, expectStatus, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { authInterceptor, createTokenVerifier, grpcKeySource, staticKeySource, type GrpcKeySource } from './auth.js';
import { currentCallContext } from './call-context.js';
import { decodeStatusDetails } from './error-details.js';

const ISSUER = 'https://auth.test';
const AUDIENCE = 'grpc-patterns.test';

interface TestKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}
async function makeKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

interface SignOptions {
  key?: TestKey;
  kid?: string;
  typ?: string;
  iss?: string;
  aud?: string;
  sub?: string;
  /** exp relative to now, s */
  expInS?: number;
  claims?: Record<string, unknown>;
}
let keyA: TestKey;
function sign(options: SignOptions = {}): Promise<string> {
  const key = options.key ?? keyA;
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['user'], token_use: 'access', ...options.claims })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? (key.jwk.kid as string), typ: options.typ ?? 'at+jwt' })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setSubject(options.sub ?? 'user-1')
    .setJti('jti-1')
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.expInS ?? 300))
    .sign(key.privateKey);
}
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function claims(expInS = 300) {
  const iat = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat, exp: iat + expInS, roles: ['admin'], token_use: 'access' };
}

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

// ---- the in-process auth service that serves GetPublicKeys -------------------------------
let servedKeys: JWK[] = [];
let keyCalls = 0;
function keyServerImpl(): authV1.AuthServiceServer {
  const unimplemented = unary(async () => {
    throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
  });
  return {
    register: unimplemented,
    login: unary(async () => authV1.LoginResponse.fromPartial({ tokens: { tokenType: 'Bearer' } })),
    refresh: unimplemented,
    getUser: unary(async () => authV1.GetUserResponse.fromPartial({ user: { id: currentCallContext()?.user?.id ?? 'nobody' } })),
    getPublicKeys: unary(async () => {
      keyCalls++;
      return authV1.GetPublicKeysResponse.fromPartial({
        keys: servedKeys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid, alg: k.alg, use: k.use })),
        issuer: ISSUER,
        audience: AUDIENCE,
      });
    }),
  };
}

// ---- tiny handlers for the four call shapes, recording the user the context holds ---------
interface Seen {
  users: Array<string | undefined>;
  aborted: number;
}
function shapeServices(seen: Seen): ServiceRegistration[] {
  const who = () => currentCallContext()?.user?.id;
  const analytics: analyticsV1.AnalyticsServiceServer = {
    streamFlights: serverStreaming(async (call, signal) => {
      seen.users.push(who());
      signal.addEventListener('abort', () => seen.aborted++);
      // origin "FOREVER": keep streaming until the call ends (token expiry test)
      const forever = call.request.origin === 'FOREVER';
      for (let i = 0; forever ? !signal.aborted : i < 2; i++) {
        await writeMessage(call, analyticsV1.StreamFlightsResponse.fromPartial({ rowsScanned: String(i + 1) }));
        if (forever) await new Promise((r) => setTimeout(r, 50));
      }
    }),
    streamDelayStats: serverStreaming(async () => undefined),
  };
  const metrics: metricsV1.MetricsServiceServer = {
    uploadMetrics: clientStreaming(async (call) => {
      let received = 0;
      for await (const _point of call) received++;
      seen.users.push(who());
      return metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: String(received) });
    }),
  };
  const chat: chatV1.ChatServiceServer = {
    chat: bidiStreaming(async (call, signal) => {
      signal.addEventListener('abort', () => seen.aborted++);
      let sequence = 0;
      // iterator({ destroyOnReturn: false }): a plain `for await` destroys the duplex when the
      // requests end, and a destroyed call never sends its OK status.
      for await (const request of call.iterator({ destroyOnReturn: false }) as AsyncIterable<chatV1.ChatRequest>) {
        seen.users.push(who());
        const text = request.action?.$case === 'send' ? request.action.send.text : '';
        await writeMessage(call, chatV1.ChatResponse.fromPartial({ room: 'r', sequence: String(++sequence), event: { $case: 'message', message: { user: who() ?? '', text } } }));
      }
    }),
  };
  return [
    { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: keyServerImpl() },
    { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analytics },
    { name: 'metrics.v1.MetricsService', definition: metricsV1.MetricsServiceService, implementation: metrics },
    { name: 'chat.v1.ChatService', definition: chatV1.ChatServiceService, implementation: chat },
  ];
}

const chatText = (r: chatV1.ChatResponse) => (r.event?.$case === 'message' ? r.event.message.text : '');
const send = (text: string) => chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } });

function callUnary(server: TestServer, md: grpc.Metadata) {
  const client = server.client(authV1.AuthServiceClient);
  return unaryCall(client.getUser.bind(client), { userId: 'x' }, { metadata: md });
}
function callServerStream(server: TestServer, md: grpc.Metadata, origin = '') {
  const client = server.client(analyticsV1.AnalyticsServiceClient);
  return collect(client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin }), md));
}
function callClientStream(server: TestServer, md: grpc.Metadata, points: number) {
  const client = server.client(metricsV1.MetricsServiceClient);
  return new Promise<metricsV1.UploadMetricsResponse>((resolve, reject) => {
    const stream = client.uploadMetrics(md, (error, response) => (error ? reject(error) : resolve(response)));
    for (let i = 0; i < points; i++) stream.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'm', value: i }));
    stream.end();
  });
}
function callBidi(server: TestServer, md: grpc.Metadata, texts: string[], end = true) {
  const client = server.client(chatV1.ChatServiceClient);
  const stream = client.chat(md);
  const result = collect(stream);
  for (const text of texts) stream.write(send(text));
  if (end) stream.end();
  return result;
}

describe('authInterceptor', () => {
  let keyServer: TestServer;
  let server: TestServer;
  let keySource: GrpcKeySource;
  let seen: Seen;

  beforeAll(async () => {
    keyA = await makeKey('key-a');
    servedKeys = [keyA.jwk];
    keyServer = await startTestServer({ services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: keyServerImpl() }] });
  });
  afterAll(async () => {
    await keyServer.close();
    closeAllChannels();
  });
  beforeEach(async () => {
    keyCalls = 0;
    servedKeys = [keyA.jwk];
    seen = { users: [], aborted: 0 };
    keySource = grpcKeySource({ target: keyServer.target });
    server = await startTestServer({ services: shapeServices(seen), interceptors: [authInterceptor({ verifier: createTokenVerifier({ keySource }) })] });
  });
  afterEach(() => server.close());

  it('lets a valid access token through on all four call shapes and puts the user into the call context', async () => {
    const md = bearer(await sign({ sub: 'user-42' }));
    expect((await callUnary(server, md)).user?.id).toBe('user-42');
    expect((await callServerStream(server, md)).map((r) => r.rowsScanned)).toEqual(['1', '2']);
    expect((await callClientStream(server, md, 3)).receivedCount).toBe('3');
    expect((await callBidi(server, md, ['a', 'b'])).map(chatText)).toEqual(['a', 'b']);
    // server stream, client stream, two bidi messages: each handler saw the verified user
    expect(seen.users).toEqual(['user-42', 'user-42', 'user-42', 'user-42']);
    // the keys were fetched over gRPC once and then served from the cache
    expect(keyCalls).toBe(1);
    expect(keySource.fetchCount()).toBe(1);
  });

  it('refuses calls without a bearer token with UNAUTHENTICATED on all four call shapes', async () => {
    const none = new grpc.Metadata();
    const results = await Promise.all([
      expectStatus(callUnary(server, none)),
      expectStatus(callServerStream(server, none)),
      expectStatus(callClientStream(server, none, 2)),
      expectStatus(callBidi(server, none, ['a'])),
    ]);
    expect(results.map((e) => [e.code, e.details])).toEqual(Array(4).fill([grpc.status.UNAUTHENTICATED, 'missing bearer token']));
    expect(seen.users).toEqual([]);
    const basic = new grpc.Metadata();
    basic.set('authorization', 'Basic dXNlcjpwYXNz');
    const e = await expectStatus(callUnary(server, basic));
    expect([e.code, e.details]).toEqual([grpc.status.UNAUTHENTICATED, 'missing bearer token']);
  });

  it('needs no token for public methods (Login, health)', async () => {
    const client = server.client(authV1.AuthServiceClient);
    expect((await unaryCall(client.login.bind(client), { username: 'u', password: 'p' })).tokens?.tokenType).toBe('Bearer');
    expect(await checkHealth(server.target)).toBe('SERVING');
  });

  describe('refuses bad tokens with UNAUTHENTICATED, never echoing the token', () => {
    const cases: Array<[string, () => Promise<string>, string]> = [
      ['alg: none', async () => `${b64url({ alg: 'none', typ: 'at+jwt', kid: 'key-a' })}.${b64url(claims())}.`, 'invalid token'],
      [
        'HS256 signed with the public key (algorithm confusion)',
        async () => {
          const secret = new TextEncoder().encode(await exportSPKI(keyA.publicKey));
          return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'key-a' }).sign(secret);
        },
        'invalid token',
      ],
      ['wrong aud', () => sign({ aud: 'someone-else' }), 'invalid token'],
      ['wrong iss', () => sign({ iss: 'https://evil.test' }), 'invalid token'],
      ['expired beyond the 30 s tolerance', () => sign({ expInS: -31 }), 'token expired'],
      ['garbage', async () => 'garbage', 'invalid token'],
      ['three garbage segments', async () => 'aaa.bbb.ccc', 'invalid token'],
      ['a refresh token (typ refresh+jwt, aud = issuer, token_use refresh)', () => sign({ typ: 'refresh+jwt', aud: ISSUER, claims: { token_use: 'refresh', roles: undefined } }), 'invalid token'],
      ['token_use "refresh" in an otherwise valid access token', () => sign({ claims: { token_use: 'refresh' } }), 'invalid token'],
      ['typ JWT instead of at+jwt', () => sign({ typ: 'JWT' }), 'invalid token'],
      ['roles not a string array', () => sign({ claims: { roles: 'admin' } }), 'invalid token'],
      [
        'signature of another key under a known kid',
        async () => sign({ key: await makeKey('key-a') }),
        'invalid token',
      ],
    ];
    it.each(cases)('%s', async (_name, makeToken, message) => {
      const token = await makeToken();
      const error = await expectStatus(callUnary(server, bearer(token)));
      expect([error.code, error.details]).toEqual([grpc.status.UNAUTHENTICATED, message]);
      expect(error.details).not.toContain(token.slice(0, 20));
      expect(JSON.stringify(server.logs)).not.toContain(token);
      expect(seen.users).toEqual([]);
    });
  });

  it('accepts a token that expired within the clock tolerance', async () => {
    expect((await callUnary(server, bearer(await sign({ expInS: -10 })))).user?.id).toBe('user-1');
  });

  it('refetches keys on an unknown kid, at most once per cooldown', async () => {
    let clock = Date.now();
    const rotating = grpcKeySource({ target: keyServer.target, now: () => clock });
    const rotatingServer = await startTestServer({ services: shapeServices(seen), interceptors: [authInterceptor({ verifier: createTokenVerifier({ keySource: rotating }) })] });
    try {
      expect((await callUnary(rotatingServer, bearer(await sign()))).user?.id).toBe('user-1');
      expect(keyCalls).toBe(1);

      // later, auth rotates to key B: the first token with kid key-b makes one refetch and verifies
      // (a refetch within 30 s of the last fetch is not made, as with jose's createRemoteJWKSet)
      clock += 30_000;
      const keyB = await makeKey('key-b');
      servedKeys = [keyB.jwk, keyA.jwk];
      expect((await callUnary(rotatingServer, bearer(await sign({ key: keyB })))).user?.id).toBe('user-1');
      expect(keyCalls).toBe(2);

      // a made-up kid within the cooldown: no fetch, refused
      const unknown = await makeKey('key-c');
      for (let i = 0; i < 3; i++) {
        const e = await expectStatus(callUnary(rotatingServer, bearer(await sign({ key: unknown }))));
        expect([e.code, e.details]).toEqual([grpc.status.UNAUTHENTICATED, 'invalid token']);
      }
      expect(keyCalls).toBe(2);

      // 30 s later one more fetch is allowed (exactly one for several tokens), still refused
      clock += 30_000;
      for (let i = 0; i < 3; i++) await expectStatus(callUnary(rotatingServer, bearer(await sign({ key: unknown }))));
      expect(keyCalls).toBe(3);
      expect(rotating.fetchCount()).toBe(3);
    } finally {
      await rotatingServer.close();
    }
  });

  it('answers UNAVAILABLE with RetryInfo when the keys cannot be fetched', async () => {
    const deadSource = grpcKeySource({ target: 'ipv4:127.0.0.1:1', deadlineMs: 500, retryAfterFailureMs: 1_000 });
    const orphan = await startTestServer({ services: shapeServices(seen), interceptors: [authInterceptor({ verifier: createTokenVerifier({ keySource: deadSource }) })] });
    try {
      const e = await expectStatus(callUnary(orphan, bearer(await sign())));
      expect([e.code, e.details]).toEqual([grpc.status.UNAVAILABLE, 'token keys unavailable']);
      expect(decodeStatusDetails(e)).toEqual({ code: grpc.status.UNAVAILABLE, message: 'token keys unavailable', retryDelayMs: 1_000, otherTypeUrls: [] });
      // within retryAfterFailureMs no second fetch is tried
      await expectStatus(callUnary(orphan, bearer(await sign())));
      expect(deadSource.fetchCount()).toBe(1);
    } finally {
      await orphan.close();
    }
  });
});

describe('authInterceptor: streams whose token expires', () => {
  let key: TestKey;
  let server: TestServer;
  let seen: Seen;
  beforeAll(async () => {
    key = await makeKey('key-s');
  });
  beforeEach(async () => {
    seen = { users: [], aborted: 0 };
    // The auth service's own shape: its keys passed directly, no tolerance to wait out.
    const verifier = createTokenVerifier({ keySource: staticKeySource({ keys: [key.jwk], issuer: ISSUER, audience: AUDIENCE }), clockToleranceS: 0 });
    server = await startTestServer({ services: shapeServices(seen), interceptors: [authInterceptor({ verifier })] });
  });
  afterEach(() => server.close());

  it('ends a bidi stream with UNAUTHENTICATED "token expired" at exp, and the handler sees the call end', async () => {
    const md = bearer(await sign({ key, expInS: 2 }));
    const client = server.client(chatV1.ChatServiceClient);
    const stream = client.chat(md);
    const received: string[] = [];
    const ended = new Promise<grpc.ServiceError>((resolve) => {
      stream.on('data', (r: chatV1.ChatResponse) => received.push(chatText(r)));
      stream.on('error', resolve);
      stream.on('end', () => resolve(new Error('ended OK') as grpc.ServiceError));
    });
    stream.write(send('before expiry'));
    const error = await ended; // the client never ends the stream: only the token's exp can
    expect([error.code, error.details]).toEqual([grpc.status.UNAUTHENTICATED, 'token expired']);
    expect(received).toEqual(['before expiry']);
    await new Promise((r) => setImmediate(r));
    expect(seen.aborted).toBe(1);
  });

  it('ends an endless server stream the same way', async () => {
    const error = await expectStatus(callServerStream(server, bearer(await sign({ key, expInS: 2 })), 'FOREVER'));
    expect([error.code, error.details]).toEqual([grpc.status.UNAUTHENTICATED, 'token expired']);
    await new Promise((r) => setImmediate(r));
    expect(seen.aborted).toBe(1);
  });

  it('lets a stream that finishes before exp end OK', async () => {
    expect((await callBidi(server, bearer(await sign({ key, expInS: 60 })), ['x'])).length).toBe(1);
  });
});

describe('createTokenVerifier: the verified-token cache', () => {
  let key: TestKey;
  let other: TestKey;
  beforeAll(async () => {
    key = await makeKey('key-cache');
    other = await makeKey('key-cache-2');
  });
  const keySet = (...keys: TestKey[]) => ({ keys: keys.map((k) => k.jwk), issuer: ISSUER, audience: AUDIENCE });
  /** A key source whose set the test replaces (a rotation as GetPublicKeys would show it). */
  const mutableSource = (initial: ReturnType<typeof keySet>) => {
    let current = initial;
    return { get: async () => current, refresh: async () => current, set: (keys: ReturnType<typeof keySet>) => (current = keys) };
  };

  it('checks a token once and answers the same token from the cache, with the same user', async () => {
    const verifier = createTokenVerifier({ keySource: staticKeySource(keySet(key)) });
    const token = await sign({ key, claims: { roles: ['admin'] } });
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(second.user).toEqual({ id: 'user-1', roles: ['admin'] });
    // A caller changing its copy does not change what the next call gets.
    second.user.roles.push('mutated');
    expect((await verifier.verify(token)).user.roles).toEqual(['admin']);
    expect(verifier.cacheStats()).toEqual({ entries: 1, hits: 2, misses: 1, clears: 0 });
  });

  it('never answers from the cache at or past exp: the token is checked again, inside the tolerance too, and refused past it', async () => {
    let clock = Date.now();
    const verifier = createTokenVerifier({ keySource: staticKeySource(keySet(key)), now: () => clock, clockToleranceS: 30 });
    const token = await sign({ key, expInS: 60 });
    const { expiresAtMs } = await verifier.verify(token);
    await verifier.verify(token);
    expect(verifier.cacheStats()).toMatchObject({ hits: 1, misses: 1 });
    clock = expiresAtMs; // at exp: within the tolerance, so valid, but not from the cache
    await expect(verifier.verify(token)).resolves.toMatchObject({ expiresAtMs });
    await verifier.verify(token);
    expect(verifier.cacheStats()).toMatchObject({ entries: 0, hits: 1, misses: 3 });
    clock = expiresAtMs + 31_000;
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, message: 'token expired' });
    expect(verifier.cacheStats()).toMatchObject({ hits: 1, misses: 4 });
  });

  it('drops every entry when the key set changes: a token of a removed key is refused at once', async () => {
    const source = mutableSource(keySet(key, other));
    const verifier = createTokenVerifier({ keySource: source });
    const removed = await sign({ key });
    const kept = await sign({ key: other, sub: 'user-2' });
    await verifier.verify(removed);
    await verifier.verify(kept);
    expect(verifier.cacheStats()).toMatchObject({ entries: 2, clears: 0 });
    // The same keys fetched again (a new object) keep the cache.
    source.set(keySet(key, other));
    await verifier.verify(removed);
    expect(verifier.cacheStats()).toMatchObject({ entries: 2, hits: 1, clears: 0 });
    // Rotated: key-cache is gone (revoked), so its token no longer verifies.
    source.set(keySet(other));
    await expect(verifier.verify(removed)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, message: 'invalid token' });
    expect(verifier.cacheStats()).toMatchObject({ clears: 1 });
    await expect(verifier.verify(kept)).resolves.toMatchObject({ user: { id: 'user-2' } });
    expect(verifier.cacheStats()).toMatchObject({ entries: 1, hits: 1 });
  });

  it('verifyCached answers a cached, unexpired token synchronously, and nothing else', async () => {
    let clock = Date.now();
    const verifier = createTokenVerifier({ keySource: staticKeySource(keySet(key)), now: () => clock });
    const token = await sign({ key, expInS: 60 });
    expect(verifier.verifyCached(token)).toBeUndefined(); // not verified yet
    const first = await verifier.verify(token);
    expect(verifier.verifyCached(token)).toEqual(first);
    expect(verifier.cacheStats()).toMatchObject({ hits: 1, misses: 1 });
    clock = first.expiresAtMs;
    expect(verifier.verifyCached(token)).toBeUndefined(); // at exp: verify checks it again
    // A key source that cannot say its set without awaiting: always undefined.
    const source = mutableSource(keySet(key));
    const awaiting = createTokenVerifier({ keySource: source });
    await awaiting.verify(token);
    expect(awaiting.verifyCached(token)).toBeUndefined();
  });

  it('never caches a failure, and a token that failed is checked again every time', async () => {
    const verifier = createTokenVerifier({ keySource: staticKeySource(keySet(key)) });
    const forged = await sign({ key: other, kid: 'key-cache' });
    for (let i = 0; i < 2; i++) await expect(verifier.verify(forged)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, message: 'invalid token' });
    expect(verifier.cacheStats()).toEqual({ entries: 0, hits: 0, misses: 2, clears: 0 });
  });

  it('holds at most cacheMaxEntries tokens (least recently used go first), and 0 turns it off', async () => {
    const verifier = createTokenVerifier({ keySource: staticKeySource(keySet(key)), cacheMaxEntries: 2 });
    const tokens = await Promise.all(['a', 'b', 'c'].map((sub) => sign({ key, sub })));
    for (const token of tokens) await verifier.verify(token);
    expect(verifier.cacheStats()).toMatchObject({ entries: 2, misses: 3 });
    await verifier.verify(tokens[0]); // evicted: checked again
    expect(verifier.cacheStats()).toMatchObject({ entries: 2, hits: 0, misses: 4 });
    const off = createTokenVerifier({ keySource: staticKeySource(keySet(key)), cacheMaxEntries: 0 });
    await off.verify(tokens[0]);
    await off.verify(tokens[0]);
    expect(off.cacheStats()).toEqual({ entries: 0, hits: 0, misses: 0, clears: 0 });
  });
});
