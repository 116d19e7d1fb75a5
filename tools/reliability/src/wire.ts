/**
 * Hand-made protobuf wire bytes for messages the generated code cannot produce: a
 * google.protobuf.Timestamp with any int64 `seconds` and int32 `nanos` (ts-proto maps Timestamp
 * to a Date, so ±2^63 s or nanos outside 0..999,999,999 never come out of its encoder). The
 * encoding is the protobuf spec's (protobuf.dev/programming-guides/encoding).
 */

/** Base-128 varint of an unsigned value (< 2^64). */
export function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

/** A length-delimited field: tag (field << 3 | 2), varint length, the bytes. */
export function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(bytes.length)), Buffer.from(bytes)]);
}

/** google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; } with any values (negatives as 10-byte two's complement varints). */
export function timestampBytes(seconds: bigint, nanos: number): Buffer {
  const unsigned = (v: bigint) => (v < 0n ? v + (1n << 64n) : v);
  return Buffer.concat([varint(8n), varint(unsigned(seconds)), varint(16n), varint(unsigned(BigInt(nanos)))]);
}
