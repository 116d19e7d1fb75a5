// grpc's interop test cases (grpc/grpc doc/interop-test-descriptions.md), ported to the real
// services spawned from their built dist, with our TS client (grpc-js through the kit). Each case
// maps to the real method that has its shape; docs/reliability.md has the table and what is
// adapted. special_status_message needs a server that puts tabs and CR/LF in a status message,
// which no real method does (they refuse control characters): it runs against an in-process
// kit server (startServer, as every service) whose handler throws the interop message.
import { closeAllChannels, createClient, GrpcError, unary, unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, descriptorSetBase64, googleRpc, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { collect, expectStatus, grpc, repoRoot, spawnService, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack, type StackUser } from './stack.js';
import { padWithUnknownField, SPECIAL_STATUS_MESSAGE } from './interop-messages.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`interop suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

// The Python client: Debian's python3-grpcio. Missing: skipped with the reason, except under
// CI=true, where it is a failure.
const PYTHON = '/usr/bin/python3';
const PYTHON_CLIENT = join(repoRoot, 'tools', 'interop', 'python', 'interop_client.py');
const probe = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
const pythonReady = probe.status === 0;
if (run && !pythonReady && process.env.CI !== 'true') {
  console.warn(`interop suite, Python client skipped: ${PYTHON} with grpcio and protobuf is not available (${probe.error?.message ?? probe.stderr.trim()}); apt-get install python3-grpcio python3-protobuf`);
}
const runPython = run && (pythonReady || process.env.CI === 'true');
/** What interop_client.py runs (all but concurrent_large_unary), in its order. */
const PYTHON_CASES = ['empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream', 'custom_metadata', 'status_code_and_message', 'special_status_message', 'unimplemented_method', 'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response', 'timeout_on_sleeping_server'];

/** Sizes from the interop descriptions (large_unary). */
const LARGE_REQUEST_BYTES = 271_828;
const LARGE_RESPONSE_BYTES = 314_159;

/** A generic client for any method path with raw bytes in and out (unimplemented_*, large requests). */
function rawUnary(target: string, path: string, request: Buffer, metadata = new grpc.Metadata(), deadlineMs = 30_000): Promise<Buffer> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response as Buffer);
    });
  });
}

/** Resolves with the first `count` responses of a stream. */
function take<T>(stream: grpc.ClientDuplexStream<unknown, T> | grpc.ClientReadableStream<T>, count: number): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    const onData = (item: T) => {
      items.push(item);
      if (items.length === count) {
        stream.off('data', onData);
        resolve(items);
      }
    };
    stream.on('data', onData);
    stream.on('error', reject);
    stream.on('end', () => reject(new Error(`stream ended after ${items.length} of ${count} responses`)));
  });
}

(run ? describe : describe.skip)('interop cases against the real services (TS client)', () => {
  let stack: Stack;
  let user: StackUser;
  let auth: authV1.AuthServiceClient;
  let analytics: analyticsV1.AnalyticsServiceClient;
  let metrics: metricsV1.MetricsServiceClient;
  let chat: chatV1.ChatServiceClient;
  let orders: ordersV1.OrderServiceClient;

  beforeAll(async () => {
    stack = await startStack(['analytics', 'metrics', 'chat', 'orders']);
    user = await stack.user('interop');
    const options = { defaultDeadlineMs: 30_000 };
    auth = createClient(authV1.AuthServiceClient, stack.get('auth').target, options);
    analytics = createClient(analyticsV1.AnalyticsServiceClient, stack.get('analytics').target, options);
    metrics = createClient(metricsV1.MetricsServiceClient, stack.get('metrics').target, options);
    chat = createClient(chatV1.ChatServiceClient, stack.get('chat').target, options);
    orders = createClient(ordersV1.OrderServiceClient, stack.get('orders').target, options);
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    closeAllChannels();
    await stack?.stop();
  });

  it('empty_unary: auth.GetPublicKeys with an empty request message', async () => {
    const response = await unaryCallDetailed(auth.getPublicKeys.bind(auth), authV1.GetPublicKeysRequest.fromPartial({}));
    expect(authV1.GetPublicKeysRequest.encode({}).finish().length).toBe(0);
    expect(response.response.keys.length).toBeGreaterThan(0);
  });

  it('large_unary: a 271,828-byte GetUser request and a StreamFlights chunk of at least 314,159 bytes', async () => {
    const request = padWithUnknownField(authV1.GetUserRequest.encode({ userId: user.id }).finish(), LARGE_REQUEST_BYTES);
    expect(request.length).toBe(LARGE_REQUEST_BYTES);
    const response = authV1.GetUserResponse.decode(await rawUnary(stack.get('auth').target, '/auth.v1.AuthService/GetUser', request, user.metadata()));
    expect(response.user?.username).toBe(user.username);
    // No unary method answers 300 KB; the flights stream does, in one message per chunk.
    const [chunk] = await take(analytics.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 3_000, limit: 3_000 }), user.metadata()), 1);
    expect(analyticsV1.StreamFlightsResponse.encode(chunk as analyticsV1.StreamFlightsResponse).finish().length).toBeGreaterThanOrEqual(LARGE_RESPONSE_BYTES);
  });

  it('client_streaming: metrics.UploadMetrics with four points gets one summary of all four', async () => {
    const response = await new Promise<metricsV1.UploadMetricsResponse>((resolve, reject) => {
      const call = metrics.uploadMetrics(user.metadata(), (error, r) => (error ? reject(error) : resolve(r)));
      for (const value of [27_182, 8, 1_828, 45_904]) call.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'interop_payload_bytes', value, time: new Date() }));
      call.end();
    });
    expect([response.receivedCount, response.acceptedCount]).toEqual(['4', '4']);
    expect(response.series.map((s) => [s.name, s.count, s.min, s.max])).toEqual([['interop_payload_bytes', '4', 8, 45_904]]);
  });

  it('server_streaming: analytics.StreamFlights answers four chunks of the asked size, in order', async () => {
    const chunks = await collect(analytics.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', chunkSize: 3, limit: 12 }), user.metadata()));
    expect(chunks.map((c) => c.flights.length)).toEqual([3, 3, 3, 3]);
    expect(chunks.flatMap((c) => c.flights).every((f) => f.origin === 'SFO')).toBe(true);
    const scanned = chunks.map((c) => Number(c.rowsScanned));
    expect([...scanned].sort((a, b) => a - b)).toEqual(scanned);
  });

  it('ping_pong: chat, each request answered before the next is sent', async () => {
    const call = chat.chat(user.metadata());
    const room = `pingpong-${Date.now()}`;
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user: user.id } } }));
    const [joined] = await take(call, 1);
    expect(joined?.event?.$case).toBe('presence');
    for (const text of ['27182', '8', '1828', '45904']) {
      call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } }));
      const [echo] = await take(call, 1);
      expect(echo?.event).toEqual({ $case: 'message', message: { user: user.id, text } });
    }
    call.end();
    await collect(call);
  });

  it('empty_stream: an upload with no points ends OK; chat refuses a stream without a join with a clear status', async () => {
    const response = await new Promise<metricsV1.UploadMetricsResponse>((resolve, reject) => {
      const call = metrics.uploadMetrics(user.metadata(), (error, r) => (error ? reject(error) : resolve(r)));
      call.end();
    });
    expect([response.receivedCount, response.series]).toEqual(['0', []]);
    // Chat's protocol starts with a JoinRoom, so its empty stream is not OK (by design).
    const call = chat.chat(user.metadata());
    call.end();
    const error = await expectStatus(collect(call));
    expect([grpc.status[error.code], error.details]).toEqual(['INVALID_ARGUMENT', 'join: the first request must be a join']);
  });

  it('custom_metadata: ASCII initial metadata echoed (x-request-id), -bin request metadata accepted, -bin trailing metadata (grpc-status-details-bin) decodable', async () => {
    const md = user.metadata();
    md.set('x-request-id', 'interop-custom-metadata-1');
    md.set('x-grpc-test-echo-trailing-bin', Buffer.from([0xab, 0xab, 0xab]));
    const ok = await unaryCallDetailed(auth.getUser.bind(auth), authV1.GetUserRequest.fromPartial({ userId: user.id }), { metadata: md });
    expect(ok.headers.get('x-request-id')).toEqual(['interop-custom-metadata-1']);
    // Trailing binary metadata: the rich error of an invalid request, a google.rpc.Status.
    const error = await expectStatus(unaryCallDetailed(auth.getUser.bind(auth), authV1.GetUserRequest.fromPartial({ userId: '' }), { metadata: md }));
    const [details] = error.metadata.get('grpc-status-details-bin') as Buffer[];
    const status = googleRpc.Status.decode(details as Buffer);
    expect([status.code, status.message]).toEqual([grpc.status.INVALID_ARGUMENT, error.details]);
    expect(error.metadata.get('x-request-id')).toEqual(['interop-custom-metadata-1']);
  });

  it('status_code_and_message: NOT_FOUND with the message orders sends', async () => {
    const id = randomUUID();
    const error = await expectStatus(unaryCallDetailed(orders.getOrder.bind(orders), ordersV1.GetOrderRequest.fromPartial({ orderId: id }), { metadata: user.metadata() }));
    expect([grpc.status[error.code], error.details]).toEqual(['NOT_FOUND', `order ${id} not found`]);
  });

  it('special_status_message (non-ASCII, real service): chat ALREADY_EXISTS names the user intact', async () => {
    // A non-ASCII member name the client chooses: only CHAT_IDENTITY=name takes one (the
    // default, token, names members by their user id), so this case has a chat of its own.
    const named = await spawnService({ name: 'chat', env: { LOG_LEVEL: 'warn', AUTH_TARGET: stack.get('auth').target, CHAT_IDENTITY: 'name' }, readyTimeoutMs: 120_000 });
    const chat = createClient(chatV1.ChatServiceClient, named.target, { defaultDeadlineMs: 30_000 });
    const room = `special-${Date.now()}`;
    const name = 'Ünïcødé BMP ☺ and non-BMP 😈';
    const first = chat.chat(user.metadata());
    first.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user: name } } }));
    await take(first, 1);
    const second = chat.chat(user.metadata());
    second.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user: name } } }));
    const error = await expectStatus(collect(second));
    expect([grpc.status[error.code], error.details]).toEqual(['ALREADY_EXISTS', `user ${JSON.stringify(name)} is already in room ${JSON.stringify(room)}`]);
    first.end();
    await collect(first);
    await named.stop();
  }, 150_000);

  it('unimplemented_method and unimplemented_service: UNIMPLEMENTED', async () => {
    const target = stack.get('orders').target;
    const method = await expectStatus(rawUnary(target, '/orders.v1.OrderService/UnimplementedCall', Buffer.alloc(0), user.metadata()));
    const service = await expectStatus(rawUnary(target, '/grpc.testing.UnimplementedService/UnimplementedCall', Buffer.alloc(0)));
    expect([method.code, service.code]).toEqual([grpc.status.UNIMPLEMENTED, grpc.status.UNIMPLEMENTED]);
  });

  it('cancel_after_begin: a metrics upload cancelled before any point ends CANCELLED', async () => {
    const error = await expectStatus(
      new Promise((resolve, reject) => {
        const call = metrics.uploadMetrics(user.metadata(), (e, r) => (e ? reject(e) : resolve(r)));
        call.cancel();
      }),
    );
    expect(error.code).toBe(grpc.status.CANCELLED);
  });

  it('cancel_after_first_response: a chat stream cancelled after its first response ends CANCELLED', async () => {
    const call = chat.chat(user.metadata());
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room: `cancel-${Date.now()}`, user: user.id } } }));
    await take(call, 1);
    const ended = expectStatus(collect(call));
    call.cancel();
    expect((await ended).code).toBe(grpc.status.CANCELLED);
  });

  it('timeout_on_sleeping_server: a chat stream with a 1 ms deadline ends DEADLINE_EXCEEDED', async () => {
    const call = chat.chat(user.metadata(), { deadline: Date.now() + 1 });
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room: `sleep-${Date.now()}`, user: user.id } } }));
    expect((await expectStatus(collect(call))).code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('concurrent_large_unary: 1,000 large GetUser calls in parallel on one channel', async () => {
    // The rate limit is per user and method (100/s plus a burst of 200): five users, 200 calls each.
    const users = [user, ...(await Promise.all([1, 2, 3, 4].map((i) => stack.user(`interop${i}`))))];
    const target = stack.get('auth').target;
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      const calls = Array.from({ length: 1_000 }, (_, i) => {
        const u = users[i % users.length] as StackUser;
        const request = padWithUnknownField(authV1.GetUserRequest.encode({ userId: u.id }).finish(), LARGE_REQUEST_BYTES);
        return new Promise<string>((resolve) => {
          client.makeUnaryRequest('/auth.v1.AuthService/GetUser', (b: Buffer) => b, (b: Buffer) => authV1.GetUserResponse.decode(b), request, u.metadata(), { deadline: Date.now() + 120_000 }, (error, r) =>
            resolve(error ? grpc.status[error.code] : r?.user?.username === u.username ? 'OK' : 'wrong user'),
          );
        });
      });
      const results = await Promise.all(calls);
      const counts: Record<string, number> = {};
      for (const r of results) counts[r] = (counts[r] ?? 0) + 1;
      expect(counts).toEqual({ OK: 1_000 });
    } finally {
      client.close();
    }
  });

  // The unary and streaming cases again, with Debian's python3-grpcio (tools/interop/python).
  (runPython ? it : it.skip)('Python grpcio client: every unary and streaming case passes', async () => {
    if (!pythonReady) throw new Error(`CI=true but ${PYTHON} with grpcio and protobuf is missing: ${probe.error?.message ?? probe.stderr}`);
    const dir = mkdtempSync(join(tmpdir(), 'interop-python-'));
    const special = await startSpecialStatusServer();
    try {
      const descriptors = join(dir, 'grpc-patterns.binpb');
      writeFileSync(descriptors, Buffer.from(descriptorSetBase64, 'base64'));
      const python = await stack.user('python');
      const address = (name: 'auth' | 'analytics' | 'metrics' | 'chat' | 'orders') => `127.0.0.1:${stack.get(name).port}`;
      const args = ['--descriptors', descriptors, '--special', special.running.address, '--token', python.accessToken, '--user-id', python.id, '--username', python.username];
      for (const name of ['auth', 'analytics', 'metrics', 'chat', 'orders'] as const) args.push(`--${name}`, address(name));
      const { stdout } = await promisify(execFile)(PYTHON, [PYTHON_CLIENT, ...args], { timeout: 120_000 });
      expect(JSON.parse(stdout)).toEqual(Object.fromEntries(PYTHON_CASES.map((c) => [c, 'ok'])));
    } finally {
      await special.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A kit server (startServer, as every service) whose AuthService methods all fail with the special status message. */
function startSpecialStatusServer(): Promise<TestServer> {
  const special = unary<authV1.GetUserRequest, authV1.GetUserResponse>(async () => {
    throw new GrpcError(grpc.status.UNKNOWN, SPECIAL_STATUS_MESSAGE);
  });
  return startTestServer({
    services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: { register: special, login: special, refresh: special, getUser: special, getPublicKeys: special } }],
  });
}

(run ? describe : describe.skip)('special_status_message through the kit server (TS client)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSpecialStatusServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('tabs, CR/LF, BMP and non-BMP characters arrive intact', async () => {
    const client = server.client(authV1.AuthServiceClient);
    const error = await expectStatus(unaryCallDetailed(client.getUser.bind(client), authV1.GetUserRequest.fromPartial({})));
    expect([error.code, error.details]).toEqual([grpc.status.UNKNOWN, SPECIAL_STATUS_MESSAGE]);
  });
});

