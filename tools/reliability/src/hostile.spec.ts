// Hostile input against the real services, spawned from their built dist (a crash is an exit):
// hand-made HTTP/2 frames and gRPC messages from node:http2 and a bare socket. Each case must
// end with a clear gRPC status or a closed stream/connection, and afterwards the service must
// still run, answer health with SERVING, have logged no error-level line, and its RSS must stay
// within RSS_GROWTH_LIMIT of what it was before the suite.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { authV1, chatV1, metricsV1 } from '@grpc-patterns/proto';
import { grpc, type ServiceProcess } from '@grpc-patterns/testing';
import * as http2 from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { padWithUnknownField } from './interop-messages.js';
import { connect, frameMessage, messagePrefix, rawCall, type RawResult } from './raw-h2.js';
import { expectAlive, rssBytes, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack, type StackUser } from './stack.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`hostile-input suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

/** How much a service's RSS may grow over the whole suite, bytes (a gzip bomb here inflates to 1 GiB). */
const RSS_GROWTH_LIMIT = 256 * 1024 * 1024;
const MAX_MESSAGE = 4 * 1024 * 1024;
const LOGIN = '/auth.v1.AuthService/Login';

/** A Login request for a user that does not exist, padded with an unknown field to `size` bytes if given. */
function loginMessage(size?: number): Buffer {
  const base = Buffer.from(authV1.LoginRequest.encode({ username: 'nobody', password: 'not the password' }).finish());
  return size === undefined ? base : padWithUnknownField(base, size);
}

/** `grpc-status` name and message, or how the stream ended without one. */
function outcome(r: RawResult): string {
  if (r.grpcStatus !== undefined) return `${grpc.status[r.grpcStatus]}: ${r.grpcMessage ?? ''}`;
  return `no status (rst ${r.rstCode}${r.error ? `, ${r.error}` : ''})`;
}

/** gzip of `bytes` zero bytes, streamed (never holds the inflated size in memory). */
async function gzipOfZeros(bytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < bytes; written += zeros.length) {
    if (!gzip.write(zeros)) await once(gzip, 'drain');
  }
  gzip.end();
  await once(gzip, 'end');
  return Buffer.concat(chunks);
}

(run ? describe : describe.skip)('hostile input against the spawned services', () => {
  let stack: Stack;
  let user: StackUser;
  let auth: ServiceProcess;
  let chat: ServiceProcess;
  let metrics: ServiceProcess;
  const baseline = new Map<string, number>();

  beforeAll(async () => {
    stack = await startStack(['metrics', 'chat']);
    auth = stack.get('auth');
    chat = stack.get('chat');
    metrics = stack.get('metrics');
    user = await stack.user('hostile');
    for (const s of [auth, chat, metrics]) baseline.set(s.name, rssBytes(s.child.pid ?? 0));
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    closeAllChannels();
    await stack?.stop();
  });
  afterEach(async () => {
    for (const s of [auth, chat, metrics]) {
      await expectAlive(s);
      const grown = rssBytes(s.child.pid ?? 0) - (baseline.get(s.name) ?? 0);
      expect({ service: s.name, grownOverLimit: grown > RSS_GROWTH_LIMIT }).toEqual({ service: s.name, grownOverLimit: false });
    }
  });

  const bearer = () => ({ authorization: `Bearer ${user.accessToken}` });

  it('invalid protobuf: truncated, invalid and wrong wire types end with a clear status', async () => {
    const session = await connect(auth.port);
    try {
      const valid = loginMessage();
      const cases: Record<string, Buffer> = {
        'truncated (length-delimited field cut short)': valid.subarray(0, valid.length - 3),
        'invalid wire type 7': Buffer.from([0x0f, 0x01, 0x02]),
        'field 1 (string) sent as varint': Buffer.from([0x08, 0x96, 0x01]),
        'field 2 (string) sent as fixed32': Buffer.from([0x15, 1, 2, 3, 4]),
        'varint running past the end': Buffer.from([0x08, 0xff, 0xff, 0xff]),
        'random bytes': Buffer.from('9c2f1e88d0a7b3ff04', 'hex'),
      };
      const seen: Record<string, string> = {};
      for (const [name, message] of Object.entries(cases)) seen[name] = outcome(await rawCall(session, LOGIN, { body: [frameMessage(message)] }));
      expect(seen).toEqual({
        'truncated (length-delimited field cut short)': 'INTERNAL: Error deserializing request',
        'invalid wire type 7': 'INTERNAL: Error deserializing request',
        // a known field with the wrong wire type is skipped like an unknown one (ts-proto)
        'field 1 (string) sent as varint': 'INVALID_ARGUMENT: username: must not be empty; password: must not be empty',
        'field 2 (string) sent as fixed32': 'INVALID_ARGUMENT: username: must not be empty; password: must not be empty',
        'varint running past the end': 'INTERNAL: Error deserializing request',
        'random bytes': expect.stringMatching(/^(INTERNAL: Error deserializing request|INVALID_ARGUMENT: .+)$/),
      });
    } finally {
      session.close();
    }
  });

  it('message size: a 4 GiB length prefix and the limit + 1 byte get RESOURCE_EXHAUSTED; the limit itself is read', async () => {
    const session = await connect(auth.port);
    try {
      const huge = await rawCall(session, LOGIN, { body: [messagePrefix(0xffffffff), Buffer.alloc(1024)] });
      const overLimit = await rawCall(session, LOGIN, { body: [frameMessage(loginMessage(MAX_MESSAGE + 1))] });
      const atLimit = await rawCall(session, LOGIN, { body: [frameMessage(loginMessage(MAX_MESSAGE))] });
      expect(outcome(huge)).toBe(`RESOURCE_EXHAUSTED: Received message larger than max (4294967295 vs ${MAX_MESSAGE})`);
      expect(outcome(overLimit)).toBe(`RESOURCE_EXHAUSTED: Received message larger than max (${MAX_MESSAGE + 1} vs ${MAX_MESSAGE})`);
      // Read and handled: the unknown field is skipped, the user does not exist.
      expect(outcome(atLimit)).toBe('UNAUTHENTICATED: invalid username or password');
    } finally {
      session.close();
    }
  });

  it('compression: flag without grpc-encoding, an unknown encoding, and a gzip bomb', async () => {
    const bomb = await gzipOfZeros(1024 * 1024 * 1024);
    const session = await connect(auth.port);
    try {
      const noEncoding = await rawCall(session, LOGIN, { body: [frameMessage(loginMessage(), true)] });
      const unknown = await rawCall(session, LOGIN, { headers: { 'grpc-encoding': 'br' }, body: [frameMessage(loginMessage(), true)] });
      const notGzip = await rawCall(session, LOGIN, { headers: { 'grpc-encoding': 'gzip' }, body: [frameMessage(loginMessage(), true)] });
      const bombed = await rawCall(session, LOGIN, { headers: { 'grpc-encoding': 'gzip' }, body: [frameMessage(bomb, true)] });
      // grpc-js reads a flagged message without grpc-encoding as identity (lenient; the spec
      // calls it a protocol error): the message is valid, so it is handled.
      expect(outcome(noEncoding)).toBe('UNAUTHENTICATED: invalid username or password');
      expect(outcome(unknown)).toBe('UNIMPLEMENTED: Received message compressed with unsupported encoding "br"');
      expect(outcome(notGzip)).toBe('INTERNAL: Failed to decompress message');
      expect(bomb.length).toBeLessThan(MAX_MESSAGE);
      expect(outcome(bombed)).toBe(`RESOURCE_EXHAUSTED: Received message that decompresses to a size larger than ${MAX_MESSAGE}`);
    } finally {
      session.close();
    }
  });

  it('unknown service and method get UNIMPLEMENTED', async () => {
    const session = await connect(chat.port);
    try {
      const noService = await rawCall(session, '/nope.v1.NoService/Call', { body: [frameMessage(Buffer.alloc(0))] });
      const noMethod = await rawCall(session, '/chat.v1.ChatService/NoSuchMethod', { headers: bearer(), body: [frameMessage(Buffer.alloc(0))] });
      const notAPath = await rawCall(session, 'garbage', { body: [frameMessage(Buffer.alloc(0))] });
      expect(outcome(noService)).toBe('UNIMPLEMENTED: The server does not implement the method /nope.v1.NoService/Call');
      expect(outcome(noMethod)).toBe('UNIMPLEMENTED: The server does not implement the method /chat.v1.ChatService/NoSuchMethod');
      expect(outcome(notAPath)).toMatch(/^(UNIMPLEMENTED: .+|no status \(rst \d+.*\))$/);
    } finally {
      session.close();
    }
  });

  it('headers: invalid -bin metadata, malformed grpc-timeout, 200 header pairs, a 64 KiB header', async () => {
    const session = await connect(auth.port);
    try {
      const results: Record<string, string> = {};
      const call = async (name: string, headers: http2.OutgoingHttpHeaders) => {
        results[name] = outcome(await rawCall(session.closed || session.destroyed ? await connect(auth.port) : session, LOGIN, { headers, body: [frameMessage(loginMessage())] }));
      };
      await call('-bin value not base64', { 'x-trace-bin': '!!!not*base64%%%' });
      await call('grpc-status-details-bin garbage', { 'grpc-status-details-bin': 'AAAA####' });
      await call('grpc-timeout letters', { 'grpc-timeout': 'soon' });
      await call('grpc-timeout 9 digits', { 'grpc-timeout': '123456789S' });
      await call('grpc-timeout negative', { 'grpc-timeout': '-100S' });
      await call('grpc-timeout empty', { 'grpc-timeout': '' });
      await call('grpc-timeout bad unit', { 'grpc-timeout': '10Z' });
      expect(results).toEqual({
        '-bin value not base64': 'UNAUTHENTICATED: invalid username or password',
        'grpc-status-details-bin garbage': 'UNAUTHENTICATED: invalid username or password',
        'grpc-timeout letters': 'INTERNAL: Invalid grpc-timeout value "soon"',
        // grpc-js' pattern is unanchored (/(\d{1,8})\s*([HMSmun])/): these read as 23456789 s
        // and 100 s, valid deadlines, so the call runs
        'grpc-timeout 9 digits': 'UNAUTHENTICATED: invalid username or password',
        'grpc-timeout negative': 'UNAUTHENTICATED: invalid username or password',
        'grpc-timeout empty': 'INTERNAL: Invalid grpc-timeout value ""',
        'grpc-timeout bad unit': 'INTERNAL: Invalid grpc-timeout value "10Z"',
      });
    } finally {
      session.close();
    }
    // Header limits are Node's HTTP/2 defaults: the stream is reset without a gRPC status.
    const resets: Record<string, number | string> = {};
    for (const [name, headers] of Object.entries({
      '200 header pairs': Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-pair-${i}`, 'v'])),
      '64 KiB header': { 'x-big': 'a'.repeat(64 * 1024) },
    })) {
      const fresh = await connect(auth.port);
      try {
        const r = await rawCall(fresh, LOGIN, { headers, body: [frameMessage(loginMessage())], timeoutMs: 10_000 });
        resets[name] = r.grpcStatus === undefined ? r.rstCode : `status ${r.grpcStatus}`;
      } finally {
        fresh.destroy();
      }
    }
    expect(resets).toEqual({ '200 header pairs': http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, '64 KiB header': http2.constants.NGHTTP2_REFUSED_STREAM });
  });

  it('a chat client that disconnects mid-stream is removed from its room (the others see it leave)', async () => {
    const room = `hostile-${Date.now()}`;
    // Two users: chat names each member after its token (CHAT_IDENTITY=token, the default).
    const watcherUser = await stack.user('watcher');
    const md = watcherUser.metadata();
    const client = new chatV1.ChatServiceClient(chat.target, grpc.credentials.createInsecure());
    const watcher = client.chat(md);
    const events: Array<{ user: string; kind: chatV1.PresenceKind; members: string[] }> = [];
    watcher.on('data', (e: chatV1.ChatResponse) => {
      if (e.event?.$case === 'presence') events.push(e.event.presence);
    });
    watcher.on('error', () => undefined);
    watcher.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user: '' } } }));
    await waitFor(() => events.some((e) => e.user === watcherUser.id));

    // The leaver (`user`, whose token bearer() sends) speaks raw HTTP/2, joins, sends half a message frame, then its socket is destroyed.
    const session = await connect(chat.port);
    const join = frameMessage(chatV1.ChatRequest.encode({ action: { $case: 'join', join: { room, user: '' } } }).finish());
    const stream = session.request({ ':method': 'POST', ':path': '/chat.v1.ChatService/Chat', 'content-type': 'application/grpc', te: 'trailers', ...bearer() }, { endStream: false });
    stream.on('error', () => undefined);
    stream.write(join);
    await waitFor(() => events.some((e) => e.user === user.id && e.kind === chatV1.PresenceKind.PRESENCE_KIND_JOINED));
    stream.write(messagePrefix(100).subarray(0, 3));
    session.destroy();
    await waitFor(() => events.some((e) => e.user === user.id && e.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT));
    const left = events.find((e) => e.user === user.id && e.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT);
    expect(left?.members).toEqual([watcherUser.id]);
    watcher.end();
    watcher.cancel();
    client.close();
  });

  it('a metrics upload cut off mid-message leaves the service serving', async () => {
    const session = await connect(metrics.port);
    const stream = session.request({ ':method': 'POST', ':path': '/metrics.v1.MetricsService/UploadMetrics', 'content-type': 'application/grpc', te: 'trailers', ...bearer() }, { endStream: false });
    stream.on('error', () => undefined);
    const point = frameMessage(metricsV1.UploadMetricsRequest.encode(metricsV1.UploadMetricsRequest.fromPartial({ name: 'cpu', value: 1 })).finish());
    for (let i = 0; i < 1_000; i++) stream.write(point);
    stream.write(point.subarray(0, 4));
    await new Promise((resolve) => setTimeout(resolve, 200));
    session.destroy();
  });

  it('max_concurrent_streams: the server announces 100; 100 idle streams without deadlines stay bounded', async () => {
    const session = await connect(chat.port);
    try {
      await waitFor(() => session.remoteSettings.maxConcurrentStreams !== undefined && session.remoteSettings.maxConcurrentStreams !== 4294967295);
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
      const streams: http2.ClientHttp2Stream[] = [];
      const responded: number[] = [];
      for (let i = 0; i < 100; i++) {
        const s = session.request({ ':method': 'POST', ':path': '/chat.v1.ChatService/Chat', 'content-type': 'application/grpc', te: 'trailers', ...bearer() }, { endStream: false });
        s.on('error', () => undefined);
        s.on('response', () => responded.push(i));
        streams.push(s);
      }
      // grpc-js sends no headers before the handler writes, so ask health on another connection.
      await expectAlive(chat);
      for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
    }
  });

  it('RST_STREAM flood (rapid reset): 5,000 streams opened and cancelled at once', async () => {
    const session = await connect(auth.port);
    let opened = 0;
    try {
      for (let i = 0; i < 5_000 && !session.destroyed && !session.closed; i++) {
        try {
          const s = session.request({ ':method': 'POST', ':path': LOGIN, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
          s.on('error', () => undefined);
          s.close(http2.constants.NGHTTP2_CANCEL);
          opened++;
        } catch {
          break; // the server sent GOAWAY: the flood is over for this connection
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      session.destroy();
    }
    expect(opened).toBeGreaterThan(100);
  });

  it('PING flood: 100,000 PING frames from a client that never reads the answers', async () => {
    const socket = tcpConnect(auth.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    socket.pause();
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const settings = Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]);
    // PING: length 8, type 0x6, flags 0, stream 0, 8 opaque bytes.
    const ping = Buffer.from([0, 0, 8, 0x06, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const batch = Buffer.concat(Array.from({ length: 1_000 }, () => ping));
    // The server may close the connection mid-flood (nghttp2's flood protection): writes then
    // fail with EPIPE, which ends the flood.
    let closed = false;
    socket.on('close', () => (closed = true));
    const drainedOrClosed = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, 2_000);
        socket.once('drain', done);
        socket.once('close', done);
      });
    socket.write(Buffer.concat([preface, settings]));
    let batches = 0;
    while (batches < 100 && !closed && !socket.destroyed) {
      batches++;
      if (!socket.write(batch)) await drainedOrClosed();
    }
    socket.destroy();
    expect(batches).toBeGreaterThan(0);
  });
});

/** Polls `condition` every 20 ms until it holds; throws after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
