/**
 * Sending with backpressure, and counting it. Every message goes through grpc-kit's
 * writeMessage(), which waits for 'drain' when the call's buffer is full: the scan loop then
 * stops decoding until the client has read enough for HTTP/2 flow control to let more bytes
 * out. The counters make that visible (tests assert on them; logs report them per call).
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { GrpcError, writeMessage } from '@grpc-patterns/grpc-kit';

/** Write-side counters, shared by every call of a service. */
export interface WriteCounters {
  /** Messages handed to grpc-js. */
  messagesWritten: number;
  /** Writes after which the handler had to wait for 'drain' (the client was slower). */
  drainWaits: number;
  /**
   * Largest number of messages seen queued in a call's writable buffer (not yet handed to
   * HTTP/2). Bounded by the stream's highWaterMark (16 messages in object mode) when every
   * write goes through writeMessage.
   */
  maxPendingWrites: number;
  /** Streams ended because their client did not read for the stall timeout. */
  stalledStreams: number;
}

/**
 * Writes `message`, resolving when the caller may write the next; `stallTimeoutMs`: longest wait for 'drain', ms.
 * @throws GrpcError CANCELLED when the call ends while waiting; RESOURCE_EXHAUSTED "client not reading
 * for N s; stream ended" after `stallTimeoutMs` (grpc-kit writeMessage's stall timeout).
 */
export async function send<T>(call: ServerWritableStream<unknown, T>, message: T, counters: WriteCounters, stallTimeoutMs?: number): Promise<void> {
  const written = writeMessage(call, message, { stallTimeoutMs }).catch((error: unknown) => {
    if (error instanceof GrpcError && error.code === status.RESOURCE_EXHAUSTED) counters.stalledStreams++;
    throw error;
  });
  // writeMessage() has called call.write() synchronously: the buffer state is the current one.
  counters.messagesWritten++;
  counters.maxPendingWrites = Math.max(counters.maxPendingWrites, call.writableLength);
  if (call.writableNeedDrain) counters.drainWaits++;
  await written;
}
