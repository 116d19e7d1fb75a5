/**
 * Messages shared by the interop and hostile-input suites.
 */

/** The status message of grpc's special_status_message case (interop-test-descriptions.md). */
export const SPECIAL_STATUS_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n';

/** Field number of the padding: not used by any message of this repo. */
const PADDING_FIELD = 15;

/**
 * `message` (an encoded protobuf) plus an unknown bytes field (15, wire type 2) making it exactly `size`
 * bytes; decoders skip unknown fields, so the server reads the original message.
 * @throws Error when `size` is too small to hold the message and a field header.
 */
export function padWithUnknownField(message: Uint8Array, size: number): Buffer {
  const tag = Buffer.from([(PADDING_FIELD << 3) | 2]);
  for (let fill = size - message.length - tag.length - 1; fill >= 0; fill--) {
    const length = varint(fill);
    if (message.length + tag.length + length.length + fill === size) return Buffer.concat([message, tag, length, Buffer.alloc(fill, 0x61)]);
  }
  throw new Error(`cannot pad a ${message.length}-byte message to ${size} bytes`);
}

/** Protobuf base-128 varint. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
