// Test fixture shared by the interceptor specs: one tiny service per call shape (auth GetUser =
// unary, analytics StreamFlights = server streaming, metrics UploadMetrics = client streaming,
// chat Chat = bidi), written as raw grpc-js handlers so the specs can also make them fail the
// ways grpc-kit's adapters never do. The `x-mode` request metadata picks the behaviour.
import { GrpcError, invalidArgument } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { createLogger, type Logger } from '@grpc-patterns/observability';
import { Writable } from 'node:stream';
import { currentCallContext, type CallContext } from '../src/call-context.js';
import { rateLimiterFromConfig, type ConfiguredLimiter } from '../src/rate-limit-store.js';

export type Shape = 'unary' | 'server_stream' | 'client_stream' | 'bidi_stream';
export const SHAPES: Shape[] = ['unary', 'server_stream', 'client_stream', 'bidi_stream'];

/**
 * ok: answer (unary: 1 response, server stream: 2, client stream: 1 after reading all, bidi:
 * echo each); invalid: INVALID_ARGUMENT "name: is bad"; throw: throw synchronously; reject:
 * async handler rejecting; error: hand grpc-js a plain Error (callback / 'error' event);
 * hang: never answer (until cancelled).
 */
export type Mode = 'ok' | 'invalid' | 'throw' | 'reject' | 'error' | 'hang';
export const SECRET = 'secret internal detail';

/** What the handlers saw, for assertions. */
export interface Observed {
  /** currentCallContext() when the handler started. */
  contexts: Array<CallContext | undefined>;
  /**
   * Date.now() when the handler started: after every interceptor ran, so an upper bound on
   * any time an interceptor read (e.g. the `now` a deadline was computed from).
   */
  startedAt: number[];
  /** currentCallContext() when a request message event reached a streaming handler. */
  messageContexts: Array<CallContext | undefined>;
  /** Request metadata the handler got. */
  metadata: grpc.Metadata[];
  /** Handlers that saw their call cancelled. */
  cancelled: number;
}

function mode(metadata: grpc.Metadata): Mode {
  return (metadata.get('x-mode')[0] as Mode | undefined) ?? 'ok';
}

function failEarly(m: Mode, fail: (e: Error | GrpcError) => void): boolean {
  if (m === 'invalid') {
    fail(invalidArgument('name', 'is bad'));
    return true;
  }
  if (m === 'throw') throw new Error(SECRET);
  if (m === 'error') {
    fail(new Error(SECRET));
    return true;
  }
  return false;
}

function toServiceError(e: Error | GrpcError): Partial<grpc.StatusObject> | Error {
  return e instanceof GrpcError ? { code: e.code, details: e.message } : e;
}

/** The four services, recording into `observed`. */
export function shapeServices(observed: Observed) {
  const start = (call: { metadata: grpc.Metadata; on(e: 'cancelled', f: () => void): unknown }) => {
    observed.contexts.push(currentCallContext());
    observed.startedAt.push(Date.now());
    observed.metadata.push(call.metadata);
    call.on('cancelled', () => observed.cancelled++);
    return mode(call.metadata);
  };

  const auth: authV1.AuthServiceServer = {
    register: () => undefined,
    login: () => undefined,
    refresh: () => undefined,
    getPublicKeys: () => undefined,
    getUser: (call, callback) => {
      const m = start(call);
      if (m === 'reject') return void Promise.reject(new Error(SECRET));
      if (m === 'hang') return;
      if (failEarly(m, (e) => callback(toServiceError(e) as grpc.ServiceError, null))) return;
      callback(null, { user: { id: call.request.userId, username: 'u', displayName: 'U', roles: [] } });
    },
  };

  const analytics: analyticsV1.AnalyticsServiceServer = {
    streamDelayStats: (call) => call.end(),
    streamFlights: (call) => {
      const m = start(call);
      if (m === 'reject') return void (async () => Promise.reject(new Error(SECRET)))();
      if (m === 'hang') return;
      if (failEarly(m, (e) => call.emit('error', toServiceError(e)))) return;
      call.write({ flights: [], rowsScanned: '1', rowsTotal: '2' });
      call.write({ flights: [], rowsScanned: '2', rowsTotal: '2' });
      call.end();
    },
  };

  const metrics: metricsV1.MetricsServiceServer = {
    uploadMetrics: (call, callback) => {
      const m = start(call);
      if (m === 'reject') return void (async () => Promise.reject(new Error(SECRET)))();
      if (failEarly(m, (e) => callback(toServiceError(e) as grpc.ServiceError, null))) return;
      let count = 0;
      call.on('data', () => {
        observed.messageContexts.push(currentCallContext());
        count++;
      });
      call.on('end', () => {
        if (m === 'hang') return;
        callback(null, metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: String(count), acceptedCount: String(count) }));
      });
    },
  };

  const chat: chatV1.ChatServiceServer = {
    chat: (call) => {
      const m = start(call);
      if (m === 'reject') return void (async () => Promise.reject(new Error(SECRET)))();
      if (failEarly(m, (e) => call.emit('error', toServiceError(e)))) return;
      let sequence = 0;
      call.on('data', (request: chatV1.ChatRequest) => {
        observed.messageContexts.push(currentCallContext());
        if (m === 'hang') return;
        const text = request.action?.$case === 'send' ? request.action.send.text : '';
        call.write(chatV1.ChatResponse.fromPartial({ room: 'r', sequence: String(++sequence), event: { $case: 'message', message: { user: 'u', text } } }));
      });
      call.on('end', () => {
        if (m !== 'hang') call.end();
      });
    },
  };

  return [
    { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth },
    { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analytics },
    { name: 'metrics.v1.MetricsService', definition: metricsV1.MetricsServiceService, implementation: metrics },
    { name: 'chat.v1.ChatService', definition: chatV1.ChatServiceService, implementation: chat },
  ] as Parameters<typeof startTestServer>[0]['services'];
}

/** Full method path of each shape's method. */
export const PATHS: Record<Shape, string> = {
  unary: '/auth.v1.AuthService/GetUser',
  server_stream: '/analytics.v1.AnalyticsService/StreamFlights',
  client_stream: '/metrics.v1.MetricsService/UploadMetrics',
  bidi_stream: '/chat.v1.ChatService/Chat',
};

/** A started fixture server. */
export interface ShapeServer extends TestServer {
  observed: Observed;
  /** One call of `shape`; resolves with how it ended (never rejects). */
  call(shape: Shape, options?: CallOptions): Promise<CallResult>;
}

export interface CallOptions {
  mode?: Mode;
  metadata?: Record<string, string>;
  /** Client deadline, ms from now: the client's own timer and the server's race to end the call. */
  timeoutMs?: number;
  /**
   * A deadline only the server enforces, ms: sent as the `grpc-timeout` header (what a client
   * deadline becomes on the wire) without arming the client's own deadline timer. The server's
   * deadline then always ends the call (DEADLINE_EXCEEDED), however slowly the request got there;
   * with `timeoutMs` the client's timer usually fires first and its cancellation reaches the
   * server before the server's own deadline (the server's copy is later by the request's transit
   * time), or, under load, before the server even started the call.
   */
  serverTimeoutMs?: number;
  /** Request messages for client-stream and bidi calls (default 3). */
  messages?: number;
  /** Client interceptors of this call's client. */
  interceptors?: grpc.Interceptor[];
}

export interface CallResult {
  code: grpc.status;
  details: string;
  /** Response headers (undefined for a trailers-only response). */
  headers?: grpc.Metadata;
  trailers: grpc.Metadata;
  /** Response messages received. */
  responses: number;
}

export function newObserved(): Observed {
  return { contexts: [], startedAt: [], messageContexts: [], metadata: [], cancelled: 0 };
}

/** Starts the four services with the given server interceptors. */
export async function startShapeServer(interceptors: grpc.ServerInterceptor[], observed = newObserved()): Promise<ShapeServer> {
  const server = await startTestServer({ services: shapeServices(observed), interceptors });
  return Object.assign(server, {
    observed,
    call: (shape: Shape, options: CallOptions = {}) => callShape(server, shape, options),
  });
}

/** Makes one call of `shape` against `server` with a raw generated client. */
export function callShape(server: TestServer, shape: Shape, options: CallOptions = {}): Promise<CallResult> {
  const metadata = new grpc.Metadata();
  if (options.mode) metadata.set('x-mode', options.mode);
  for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v);
  // grpc-js only writes grpc-timeout itself for a call with a deadline (none here then).
  if (options.serverTimeoutMs !== undefined) metadata.set('grpc-timeout', `${options.serverTimeoutMs}m`);
  // defaultDeadlineMs: 0 — the calls get only the deadline the test asks for.
  const clientOptions = { defaultDeadlineMs: 0, interceptors: options.interceptors };
  const callOptions: grpc.CallOptions = options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  const n = options.messages ?? 3;
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let responses = 0;
    const finish = (st: grpc.StatusObject) => resolve({ code: st.code, details: st.details, headers, trailers: st.metadata, responses });
    let call: grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown> | grpc.ClientWritableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>;
    const count = () => void responses++;
    switch (shape) {
      case 'unary': {
        const client = server.client(authV1.AuthServiceClient, clientOptions);
        call = client.getUser({ userId: 'u1' }, metadata, callOptions, (e) => (e ? undefined : count()));
        break;
      }
      case 'server_stream': {
        const client = server.client(analyticsV1.AnalyticsServiceClient, clientOptions);
        const stream = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({}), metadata, callOptions);
        stream.on('data', count);
        stream.on('error', () => undefined);
        call = stream;
        break;
      }
      case 'client_stream': {
        const client = server.client(metricsV1.MetricsServiceClient, clientOptions);
        const stream = client.uploadMetrics(metadata, callOptions, (e) => (e ? undefined : count()));
        for (let i = 0; i < n; i++) stream.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'm', value: i, time: new Date() }));
        stream.end();
        stream.on('error', () => undefined);
        call = stream;
        break;
      }
      case 'bidi_stream': {
        const client = server.client(chatV1.ChatServiceClient, clientOptions);
        const stream = client.chat(metadata, callOptions);
        stream.on('data', count);
        stream.on('error', () => undefined);
        for (let i = 0; i < n; i++) stream.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text: `m${i}` } } }));
        stream.end();
        call = stream;
        break;
      }
    }
    call.on('metadata', (md: grpc.Metadata) => (headers = md));
    call.on('status', finish);
  });
}

/** Responses a successful call of each shape gets (3 request messages for streams). */
export const OK_RESPONSES: Record<Shape, number> = { unary: 1, server_stream: 2, client_stream: 1, bidi_stream: 3 };

/** A pino logger (createLogger, level debug) whose JSON lines are collected in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; text: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        text.push(line);
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'debug', destination }), lines, text };
}

/** Waits until `predicate` holds (events that follow a call's status by a tick or two). */
export async function until(predicate: () => boolean, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The in-memory limiter of rateLimiterFromConfig with `points` calls per `durationS` s per principal and method, no burst. */
export function memoryLimiter(points: number, durationS = 60): ConfiguredLimiter {
  return rateLimiterFromConfig({}, captureLogger().logger, { shape: { points, duration: durationS, burstPoints: 0, burstDuration: 1 } });
}
