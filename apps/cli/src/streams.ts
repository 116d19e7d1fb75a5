/**
 * Client-side helpers for the streaming shapes: reading a server stream as an async iterable,
 * and writing a client stream with backpressure.
 */
import type * as grpc from '@grpc/grpc-js';

/**
 * Messages of a server stream, in order, pulled one at a time so HTTP/2 flow control holds the server back
 * while the loop body works (README "Explanation: Flow control end to end").
 * @throws grpc.ServiceError with the status the stream ended with (not OK).
 */
export async function* messages<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): AsyncGenerator<T> {
  for await (const message of stream as AsyncIterable<T>) yield message;
}

/**
 * Writes every item of `source` to a client stream, waiting for 'drain' whenever write() returns false, then
 * half-closes it; returns how many messages were written.
 * @throws the call's error if it ends while writing (e.g. DEADLINE_EXCEEDED, UNAVAILABLE).
 */
export async function writeAll<T>(call: grpc.ClientWritableStream<T>, source: Iterable<T> | AsyncIterable<T>): Promise<number> {
  let failed: Error | undefined;
  const onError = (error: Error) => (failed ??= error);
  call.on('error', onError);
  let written = 0;
  try {
    for await (const item of source) {
      if (failed) break;
      written++;
      if (!call.write(item)) await drainOrEnd(call);
    }
  } finally {
    call.off('error', onError);
  }
  if (failed) throw failed;
  call.end();
  return written;
}

/**
 * A client-streaming call as a pair: the stream to write to, and the promise of its single
 * response (rejects with the call's status).
 */
export function clientStream<Req, Res>(
  start: (callback: (error: grpc.ServiceError | null, response: Res) => void) => grpc.ClientWritableStream<Req>,
): { call: grpc.ClientWritableStream<Req>; response: Promise<Res> } {
  let call!: grpc.ClientWritableStream<Req>;
  const response = new Promise<Res>((resolve, reject) => {
    call = start((error, res) => (error ? reject(error) : resolve(res)));
  });
  // The error also surfaces through `response`; without a listener it would be thrown.
  call.on('error', () => undefined);
  return { call, response };
}

/** Resolves on 'drain', or when the call fails or closes (the caller then sees `failed`). */
function drainOrEnd<T>(call: grpc.ClientWritableStream<T>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('error', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('error', done);
    call.on('close', done);
  });
}
