/**
 * request-id: every call has an `x-request-id`, taken from the request metadata when the
 * caller sent a well-formed one, generated (UUID v4) otherwise; it is put back in the request
 * metadata (handlers see the final value), returned to the caller in the response headers
 * (in the trailers of a trailers-only error response), stored in the call context for logs,
 * and forwarded on downstream calls by clientPropagationInterceptor.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { callContext, contextListener, recordStatus } from './call-context.js';

/** Metadata key of the request id (the de-facto HTTP header, lower case as gRPC requires). */
export const REQUEST_ID_KEY = 'x-request-id';

/** A request id we accept from a caller: 1..128 characters of [A-Za-z0-9._-]. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The caller's request id when it matches {@link REQUEST_ID_PATTERN}, else a new UUID: an
 * id that is too long or carries other characters (log injection, header abuse) is replaced,
 * not rejected.
 */
export function acceptRequestId(value: unknown): string {
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value) ? value : randomUUID();
}

/**
 * Server interceptor giving each call its request id (see the file comment). Never fails a
 * call. Works for unary, client-streaming, server-streaming and bidi calls.
 */
export function requestIdInterceptor(): grpc.ServerInterceptor {
  return (method, call) => {
    const ctx = callContext(method, call);
    let headersSent = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next(contextListener(ctx, {
          onReceiveMetadata: (metadata, nextMd) => {
            const id = acceptRequestId(metadata.get(REQUEST_ID_KEY)[0]);
            ctx.requestId = id;
            metadata.set(REQUEST_ID_KEY, id);
            nextMd(metadata);
          },
        })),
      sendMetadata: (metadata, next) => {
        headersSent = true;
        if (ctx.requestId) metadata.set(REQUEST_ID_KEY, ctx.requestId);
        next(metadata);
      },
      sendStatus: (status, next) => {
        recordStatus(ctx, status);
        // Trailers-only response (error before any header): the trailers are the headers.
        if (!headersSent && ctx.requestId) {
          const metadata = status.metadata?.clone() ?? new grpc.Metadata();
          metadata.set(REQUEST_ID_KEY, ctx.requestId);
          next({ ...status, metadata });
          return;
        }
        next(status);
      },
    });
  };
}
