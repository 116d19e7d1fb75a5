/**
 * Adapters from async functions to grpc-js' callback handlers, one per RPC shape, so service
 * code reads top to bottom and every error path ends in a proper status. Unexpected errors are
 * reported to the process logger set by startServer() and answered with INTERNAL.
 */
import {
  status,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { GrpcError, toStatus } from './errors.js';

let reportUnexpected: (error: unknown, method: string) => void = (error, method) => {
  console.error(`unexpected error in ${method}:`, error);
};

/** Sets where unexpected handler errors are reported (startServer() points it at its logger). */
export function setUnexpectedErrorReporter(report: (error: unknown, method: string) => void): void {
  reportUnexpected = report;
}

type AnyServerStream = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * An AbortSignal that fires when the call is over from the server's point of view: the client
 * cancelled, the deadline passed, or the server is shutting down. Long work checks it (or
 * passes it on) so nothing runs for a caller that is gone.
 */
export function callSignal(call: { on(event: 'cancelled', listener: () => void): unknown; cancelled?: boolean }): AbortSignal {
  const existing = (call as { [signalKey]?: AbortController })[signalKey];
  if (existing) return existing.signal;
  const controller = new AbortController();
  (call as { [signalKey]?: AbortController })[signalKey] = controller;
  if (call.cancelled) controller.abort(new GrpcError(status.CANCELLED, 'call cancelled'));
  call.on('cancelled', () => controller.abort(new GrpcError(status.CANCELLED, 'call cancelled')));
  return controller.signal;
}
const signalKey = Symbol('grpc-patterns.callSignal');

/** Aborts the call's signal (used by shutdown), then ends the stream with the given status. */
export function endStream(call: AnyServerStream, error: GrpcError): void {
  (call as { [signalKey]?: AbortController })[signalKey]?.abort(error);
  if (call.cancelled || call.writableEnded) return;
  call.emit('error', { code: error.code, details: error.message, metadata: error.metadata });
}

/**
 * Writes one message, waiting for 'drain' when grpc-js' buffer is full (HTTP/2 flow control; README "Handler adapters").
 * @throws GrpcError CANCELLED (or the shutdown's UNAVAILABLE) when the call ended or ends while waiting, nothing
 *   written; {@link stalledWriteError} (RESOURCE_EXHAUSTED) after `stallTimeoutMs` waiting: end the stream with it.
 */
export function writeMessage<T>(call: ServerWritableStream<unknown, T> | ServerDuplexStream<unknown, T>, message: T, options: WriteOptions = {}): Promise<void> {
  const signal = callSignal(call);
  // Never write after the call ended (client gone, shutdown's UNAVAILABLE already sent): a write
  // after end would replace the status the client is about to see.
  if (call.cancelled || call.writableEnded || signal.aborted) {
    return Promise.reject(signal.reason ?? new GrpcError(status.CANCELLED, 'call ended'));
  }
  if (call.write(message)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const stallTimeoutMs = options.stallTimeoutMs;
    const timer = stallTimeoutMs === undefined ? undefined : setTimeout(() => done(stalledWriteError(stallTimeoutMs)), stallTimeoutMs);
    const done = (error?: unknown) => {
      clearTimeout(timer);
      call.off('drain', onDrain);
      call.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new GrpcError(status.CANCELLED, 'call ended'));
    const onAbort = () => done(signal.reason ?? new GrpcError(status.CANCELLED, 'call cancelled'));
    call.on('drain', onDrain);
    call.on('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

/** Options of {@link writeMessage}. */
export interface WriteOptions {
  /** Longest wait for 'drain' (the client reading), ms; default: no limit. */
  stallTimeoutMs?: number;
}

/**
 * The status a stream ends with when its client has not read for `stallTimeoutMs`:
 * RESOURCE_EXHAUSTED (the stream held a server resource the client was not using; retrying
 * as-is would stall again), with ErrorInfo reason CLIENT_NOT_READING and the limit in ms.
 */
export function stalledWriteError(stallTimeoutMs: number): GrpcError {
  return new GrpcError(status.RESOURCE_EXHAUSTED, `client not reading for ${stallTimeoutMs / 1000} s; stream ended`, undefined, [], [
    { type: 'ErrorInfo', reason: 'CLIENT_NOT_READING', domain: 'grpc-patterns', metadata: { stallTimeoutMs: String(stallTimeoutMs) } },
  ]);
}

/** Unary: return the response or throw (GrpcError for an expected failure). */
export function unary<Req, Res>(fn: (call: ServerUnaryCall<Req, Res>) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call).then(
      (response) => callback(null, response),
      (error) => {
        const st = toStatus(error, (e) => reportUnexpected(e, call.getPath()));
        callback({ code: st.code, details: st.details, metadata: st.metadata }, null);
      },
    );
  };
}

/** Client streaming: read the request stream (it is async iterable), return one response. */
export function clientStreaming<Req, Res>(fn: (call: ServerReadableStream<Req, Res>, signal: AbortSignal) => Promise<Res>): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const signal = callSignal(call);
    fn(call, signal).then(
      (response) => callback(null, response),
      (error) => {
        const st = toStatus(error, (e) => reportUnexpected(e, call.getPath()));
        callback({ code: st.code, details: st.details, metadata: st.metadata }, null);
      },
    );
  };
}

/**
 * Server streaming: write with {@link writeMessage}; the stream is ended with OK when the
 * function resolves, or with the error's status when it throws.
 */
export function serverStreaming<Req, Res>(fn: (call: ServerWritableStream<Req, Res>, signal: AbortSignal) => Promise<void>): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const signal = callSignal(call);
    fn(call, signal).then(
      () => {
        if (!call.cancelled && !call.writableEnded) call.end();
      },
      (error) => finishWithError(call as AnyServerStream, error),
    );
  };
}

/** Bidirectional streaming: same contract as {@link serverStreaming}. */
export function bidiStreaming<Req, Res>(fn: (call: ServerDuplexStream<Req, Res>, signal: AbortSignal) => Promise<void>): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const signal = callSignal(call);
    fn(call, signal).then(
      () => {
        if (!call.cancelled && !call.writableEnded) call.end();
      },
      (error) => finishWithError(call as AnyServerStream, error),
    );
  };
}

function finishWithError(call: AnyServerStream, error: unknown): void {
  if (call.cancelled || call.writableEnded) return;
  const st = toStatus(error, (e) => reportUnexpected(e, call.getPath()));
  call.emit('error', { code: st.code, details: st.details, metadata: st.metadata });
}
