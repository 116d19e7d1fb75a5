/**
 * ListOrders page tokens: opaque to clients (AIP-158), base64url of a keyset cursor, i.e. the
 * (create_time, id) of the last order on the previous page. Keyset paging, unlike OFFSET, costs
 * the same on every page and neither skips nor repeats orders when new ones arrive meanwhile.
 * The token also names the user_id it was issued for: AIP-158 asks for INVALID_ARGUMENT when
 * a token is reused with different request parameters.
 */
import type { FieldViolation } from '@grpc-patterns/grpc-kit';
import { z } from '@grpc-patterns/config';

/** Where the next page starts: after this order in (create_time DESC, id DESC) order. */
export interface PageCursor {
  userId: string;
  createTime: Date;
  id: string;
}

/**
 * The latest create_time a cursor may name: 9999-12-31T23:59:59.999Z, ms since the epoch; PGlite refuses
 * later ones (README "Explanation: Paging").
 */
export const MAX_CURSOR_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const cursorSchema = z.object({
  v: z.literal(1),
  u: z.string().min(1),
  /** create_time, ms since the epoch (the column has millisecond precision), 1970 to the end of 9999. */
  t: z.number().int().min(0).max(MAX_CURSOR_TIME_MS),
  i: z.uuid(),
});

/** Encodes a cursor as a page token: base64url (RFC 4648 §5) of compact JSON. */
export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, u: cursor.userId, t: cursor.createTime.getTime(), i: cursor.id })).toString('base64url');
}

/** What {@link parsePageToken} returns: the cursor, or the `page_token` violation. */
export type ParsedPageToken = { cursor: PageCursor; violation?: undefined } | { cursor?: undefined; violation: FieldViolation };

/**
 * Parses a page token of a previous ListOrders response for the same user; never throws (validation.ts reports).
 * @returns the cursor, or the violation `page_token: is not a valid page token` / `belongs to another user_id`.
 */
export function parsePageToken(token: string, userId: string): ParsedPageToken {
  const invalid = { violation: { field: 'page_token', description: 'is not a valid page token' } };
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return invalid;
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success) return invalid;
  if (result.data.u !== userId) return { violation: { field: 'page_token', description: 'belongs to another user_id' } };
  return { cursor: { userId: result.data.u, createTime: new Date(result.data.t), id: result.data.i } };
}
