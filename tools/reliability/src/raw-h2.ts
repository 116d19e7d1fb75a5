/**
 * A raw gRPC-over-HTTP/2 client on Node's own `node:http2`, for input no gRPC library would
 * send: hand-made length-prefixed messages (grpc/grpc `doc/PROTOCOL-HTTP2.md`), bad headers,
 * floods of RST_STREAM and PING frames.
 */
import * as http2 from 'node:http2';

/** The 5-byte gRPC message prefix: compressed flag (0/1) and a big-endian uint32 length. */
export function messagePrefix(length: number, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(compressed ? 1 : 0, 0);
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/** One length-prefixed message. */
export function frameMessage(message: Uint8Array, compressed = false): Buffer {
  return Buffer.concat([messagePrefix(message.length, compressed), message]);
}

/** How a raw call ended. */
export interface RawResult {
  /** HTTP `:status` of the response headers, when they came. */
  httpStatus?: number;
  /** `grpc-status` from the trailers (or a trailers-only response). */
  grpcStatus?: number;
  /** `grpc-message`, percent-decoded. */
  grpcMessage?: string;
  /** All response headers and trailers, merged. */
  headers: Record<string, unknown>;
  /** The DATA received, concatenated. */
  data: Buffer;
  /** The RST_STREAM code the stream closed with (0 = NO_ERROR). */
  rstCode: number;
  /** Set when the stream or session failed (reset by the server, GOAWAY, socket closed). */
  error?: string;
}

/** Options of {@link rawCall}. */
export interface RawCallOptions {
  /** Extra request headers (after the standard gRPC ones, which they override). */
  headers?: http2.OutgoingHttpHeaders;
  /** Request body chunks, written in order (each already framed, or deliberately not). */
  body?: Buffer[];
  /** End the request stream after the body (default true). */
  end?: boolean;
  /** Give up (and reset the stream) after this long, ms; default 20 000. */
  timeoutMs?: number;
}

/** Opens an HTTP/2 connection with prior knowledge (h2c), as gRPC clients do. */
export function connect(port: number, settings?: http2.Settings): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
    // Errors after connect are seen per stream; keep them from crashing the test process.
    session.on('error', () => undefined);
  });
}

/**
 * One gRPC call on `session` to `path` ("/auth.v1.AuthService/Login"), with the standard
 * request headers (`content-type: application/grpc`, `te: trailers`) unless overridden.
 * Resolves (never rejects) when the stream closes, with whatever the server sent.
 */
export function rawCall(session: http2.ClientHttp2Session, path: string, options: RawCallOptions = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const result: RawResult = { headers: {}, data: Buffer.alloc(0), rstCode: 0 };
    const chunks: Buffer[] = [];
    const take = (headers: http2.IncomingHttpHeaders) => {
      Object.assign(result.headers, headers);
      if (headers[':status'] !== undefined) result.httpStatus = Number(headers[':status']);
      if (headers['grpc-status'] !== undefined) result.grpcStatus = Number(headers['grpc-status']);
      if (headers['grpc-message'] !== undefined) result.grpcMessage = decodeGrpcMessage(String(headers['grpc-message']));
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...options.headers }, { endStream: false });
    } catch (error) {
      resolve({ ...result, error: String(error) });
      return;
    }
    const timer = setTimeout(() => {
      result.error = 'timed out';
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, options.timeoutMs ?? 20_000);
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error: Error) => {
      result.error ??= error.message;
    });
    stream.on('close', () => {
      clearTimeout(timer);
      result.rstCode = stream.rstCode ?? 0;
      result.data = Buffer.concat(chunks);
      resolve(result);
    });
    for (const chunk of options.body ?? []) stream.write(chunk);
    if (options.end ?? true) stream.end();
  });
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md "Status-Message"). */
function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
