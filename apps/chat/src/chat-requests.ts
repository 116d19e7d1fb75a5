/**
 * Validation of the requests of a Chat stream, with the limits from proto/chat/v1/chat.proto.
 * Every failure is INVALID_ARGUMENT naming the proto field (`join.room`, `send.text`).
 */
import { GrpcError, invalidArgument, type FieldViolation } from '@grpc-patterns/grpc-kit';
import type { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';

/** Room names: 1-64 characters of [a-zA-Z0-9_.-] (safe as a NATS subject token, too). */
export const ROOM_PATTERN = /^[a-zA-Z0-9_.-]{1,64}$/;
/** Longest user name, characters (Unicode code points). */
export const MAX_USER_LENGTH = 64;
/** Longest message text, characters (Unicode code points). */
export const MAX_TEXT_LENGTH = 4096;

// Cc: C0 and C1 controls (NUL, ESC, DEL, ...), which would let a name rewrite a terminal line.
const CONTROL_CHARACTER = /\p{Cc}/u;

/**
 * Who a member is (CHAT_IDENTITY): `token` (the default), the caller's access-token subject
 * (auth's user id); `name`, the JoinRoom's `user` as sent (any authenticated caller may take any
 * free name, so anyone can speak as anyone: demos only).
 */
export type ChatIdentity = 'name' | 'token';

/**
 * Checks a JoinRoom; with `subject` (CHAT_IDENTITY=token) the member is that subject, an empty `user` meaning it.
 * @throws GrpcError INVALID_ARGUMENT naming `join.room` and/or `join.user`; PERMISSION_DENIED when `user` names
 *   someone else (README "Explanation: Who a member is").
 */
export function validateJoin(join: chatV1.JoinRoom, subject?: string): { room: string; user: string } {
  if (subject !== undefined) {
    if (join.user !== '' && join.user !== subject) throw new GrpcError(status.PERMISSION_DENIED, `join.user: must be empty or your own user id ${JSON.stringify(subject)}`);
    join = { ...join, user: subject };
  }
  const violations: FieldViolation[] = [];
  if (!ROOM_PATTERN.test(join.room)) violations.push({ field: 'join.room', description: 'must be 1-64 characters of [a-zA-Z0-9_.-]' });
  const userLength = characters(join.user, MAX_USER_LENGTH);
  if (userLength < 1 || userLength > MAX_USER_LENGTH) violations.push({ field: 'join.user', description: `must be 1-${MAX_USER_LENGTH} characters` });
  else if (CONTROL_CHARACTER.test(join.user)) violations.push({ field: 'join.user', description: 'must not contain control characters' });
  if (violations.length > 0) throw invalidArgument(violations);
  return { room: join.room, user: join.user };
}

/**
 * Checks a SendMessage's text and returns it.
 *
 * @throws GrpcError INVALID_ARGUMENT `send.text: must be 1-4096 characters`.
 */
export function validateText(send: chatV1.SendMessage): string {
  const length = characters(send.text, MAX_TEXT_LENGTH);
  if (length < 1 || length > MAX_TEXT_LENGTH) throw invalidArgument('send.text', `must be 1-${MAX_TEXT_LENGTH} characters`);
  return send.text;
}

/** Unicode code points in `text`, counting no further than `limit + 1` (texts can be MiBs). */
function characters(text: string, limit: number): number {
  let count = 0;
  for (const _ of text) {
    if (++count > limit) break;
  }
  return count;
}
