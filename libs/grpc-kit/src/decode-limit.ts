/**
 * Decode limits per method: a request message is measured (and, optionally, its wire format
 * scanned) before it is decoded, so a message the service would refuse anyway costs its bytes,
 * not the objects a decoder would build from them. grpc-js' `grpc.max_receive_message_length`
 * is one limit per server; this is the per-method one.
 *
 * How: {@link withDecodeLimit} wraps a method's `requestDeserialize` (the hook grpc-js calls
 * on every request message, `server-interceptors.js` `decompressAndMaybePush`). A deserializer
 * that throws makes grpc-js answer INTERNAL "Error deserializing request", so a refusal is
 * returned instead, as a {@link RefusedMessage}, and {@link decodeLimitInterceptor} ends the
 * call with its status before the message reaches validation or the handler:
 * RESOURCE_EXHAUSTED for a message over the byte limit (as grpc-js does for its own size
 * limit), INVALID_ARGUMENT with google.rpc.BadRequest field violations for a field-count check.
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcError, invalidArgument, toStatus, type FieldViolation } from './errors.js';

/** The limit of one method. */
export interface DecodeLimit<Req> {
  /** Largest request message accepted, bytes (after decompression). Over it: RESOURCE_EXHAUSTED. */
  maxBytes: number;
  /**
   * A cheap look at the wire bytes (e.g. {@link countFields}) before any decoding: violations
   * refuse the message with INVALID_ARGUMENT and a google.rpc.BadRequest; undefined or [] lets it pass.
   */
  precheck?: (bytes: Buffer) => FieldViolation[] | undefined;
  /** Decodes instead of the generated decoder once the checks passed (e.g. to skip a field). */
  decode?: (bytes: Buffer) => Req;
}

/** What a limited deserializer returns for a message it refused; {@link decodeLimitInterceptor} turns it into the call's status. */
export class RefusedMessage {
  constructor(readonly error: GrpcError) {}
}

/** Marks the deserializers {@link withDecodeLimit} made: only their methods can see a {@link RefusedMessage}. */
const DECODE_LIMITED = Symbol('grpc-patterns.decodeLimited');

type RequestOf<M> = M extends { requestDeserialize: (bytes: Buffer) => infer Req } ? Req : never;

/**
 * A copy of a generated definition whose listed methods (keys: `uploadMetrics`) refuse oversize or precheck-failing
 * requests without decoding them (README "Decode limits"); unlisted methods are unchanged.
 * @throws Error when a key is not a method of the definition or maxBytes is not a positive integer.
 */
export function withDecodeLimit<D extends Record<string, { path: string; requestDeserialize: (bytes: Buffer) => unknown }>>(
  definition: D,
  limits: { [K in keyof D]?: DecodeLimit<RequestOf<D[K]>> },
): D {
  const limited: Record<string, unknown> = { ...definition };
  for (const [name, limit] of Object.entries(limits) as Array<[string, DecodeLimit<unknown> | undefined]>) {
    const method = definition[name];
    if (!method) throw new Error(`withDecodeLimit: ${name} is not a method of this service`);
    if (!limit) continue;
    if (!Number.isInteger(limit.maxBytes) || limit.maxBytes < 1) throw new Error(`withDecodeLimit: ${name}.maxBytes must be a positive integer`);
    const methodName = method.path.slice(method.path.lastIndexOf('/') + 1);
    const decode = limit.decode ?? method.requestDeserialize;
    const requestDeserialize = (bytes: Buffer) => {
      if (bytes.length > limit.maxBytes) {
        return new RefusedMessage(
          new GrpcError(grpc.status.RESOURCE_EXHAUSTED, `request message of ${bytes.length} bytes is over the limit of ${limit.maxBytes} bytes for ${methodName}`, new grpc.Metadata(), [], [
            { type: 'ErrorInfo', reason: 'MESSAGE_TOO_LARGE', domain: 'grpc-patterns', metadata: { method: methodName, limitBytes: String(limit.maxBytes) } },
          ]),
        );
      }
      const violations = limit.precheck?.(bytes);
      if (violations && violations.length > 0) return new RefusedMessage(invalidArgument(violations));
      return decode(bytes);
    };
    (requestDeserialize as { [DECODE_LIMITED]?: boolean })[DECODE_LIMITED] = true;
    limited[name] = { ...method, requestDeserialize };
  }
  return limited as unknown as D;
}

const DECODE_LIMIT = Symbol('grpc-patterns.decodeLimitInterceptor');

/** True for the interceptor {@link decodeLimitInterceptor} returns (startServer adds one when the chain has none). */
export function isDecodeLimitInterceptor(interceptor: grpc.ServerInterceptor): boolean {
  return (interceptor as { [DECODE_LIMIT]?: boolean })[DECODE_LIMIT] === true;
}

/**
 * Server interceptor ending a call with its {@link RefusedMessage}'s status; other messages, and methods without
 * {@link withDecodeLimit}, pass untouched. Place it before validation; startServer appends one to chains without it.
 */
export function decodeLimitInterceptor(): grpc.ServerInterceptor {
  const interceptor: grpc.ServerInterceptor = (method, call) => {
    // A method without a decode limit never gets a RefusedMessage: no layer for it.
    if ((method.requestDeserialize as { [DECODE_LIMITED]?: boolean } | undefined)?.[DECODE_LIMITED] !== true) return call as grpc.ServerInterceptingCall;
    let ended = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            if (ended) return;
            if (!(message instanceof RefusedMessage)) return nextMessage(message);
            ended = true;
            const st = toStatus(message.error, () => undefined);
            call.sendStatus({ code: st.code, details: st.details, metadata: st.metadata ?? new grpc.Metadata() });
          },
          onCancel: () => {
            ended = true;
          },
        }),
    });
  };
  (interceptor as { [DECODE_LIMIT]?: boolean })[DECODE_LIMIT] = true;
  return interceptor;
}

/** Protobuf wire types (protobuf.dev/programming-guides/encoding). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/**
 * Calls `visit(field, wireType, start, end)` for each top-level field of `bytes[from, to)` without decoding (for
 * LEN fields `start`/`end` bound the payload); `visit` returning false stops the walk.
 * @returns false when the bytes are not well-formed protobuf (the real decoder then reports it), true otherwise.
 */
export function walkFields(bytes: Uint8Array, visit: (field: number, wireType: number, start: number, end: number) => boolean | void, from = 0, to = bytes.length): boolean {
  let pos = from;
  while (pos < to) {
    const tag = readVarint(bytes, pos, to);
    if (tag < 0) return false;
    pos = varintEnd;
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) return false;
    let start = pos;
    let end: number;
    switch (wireType) {
      case VARINT:
        if (readVarint(bytes, pos, to) < 0) return false;
        end = varintEnd;
        break;
      case I64:
        end = pos + 8;
        break;
      case I32:
        end = pos + 4;
        break;
      case LEN: {
        const length = readVarint(bytes, pos, to);
        if (length < 0) return false;
        start = varintEnd;
        end = start + length;
        break;
      }
      default:
        // Groups (3, 4) are not used by proto3 and 6, 7 do not exist.
        return false;
    }
    if (end > to) return false;
    if (visit(field, wireType, start, end) === false) return true;
    pos = end;
  }
  return true;
}

/**
 * How many times field `field` occurs at the top level of a message (a repeated or map field
 * counts its elements; packed scalars count once), stopping early past `stopAfter`.
 *
 * @returns the count (at most stopAfter + 1), or -1 when the bytes are not well-formed protobuf.
 */
export function countFields(bytes: Uint8Array, field: number, stopAfter = Number.MAX_SAFE_INTEGER): number {
  let count = 0;
  const ok = walkFields(bytes, (f) => {
    if (f === field && ++count > stopAfter) return false;
    return true;
  });
  return ok ? count : -1;
}

/** End of the varint last read by {@link readVarint} (a module variable: no allocation per read). */
let varintEnd = 0;

/** Reads a varint of up to 10 bytes at `pos`; returns it (exact up to 2^53) or -1 when it runs past `to` or is too long. */
function readVarint(bytes: Uint8Array, pos: number, to: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= to) return -1;
    const b = bytes[pos + i];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      varintEnd = pos + i + 1;
      return value;
    }
  }
  return -1;
}
