/** What a room's subject stores and how the next state follows (the order point's rules; README "Across replicas"). */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import type { RoomEventBody } from './room-bus.js';

/** What the stream stores per event (JSON). */
export interface Envelope {
  seq: number;
  time: string;
  members: string[];
  /** Lease id of every member. Absent in envelopes written before leases: those members count as expired. */
  leases?: Record<string, string>;
  /** JOINED / LEFT: the lease id of the member that joined or left. */
  lease?: string;
  /** LEFT announced because the member's lease expired (by a sweeping replica), not by its own stream ending. */
  expired?: boolean;
  body: RoomEventBody;
}

/** The room's state at one stream message. */
export interface RoomSnapshot {
  /** Stream sequence of the room's last message; 0 when the room has none. */
  streamSeq: number;
  seq: number;
  members: string[];
  leases: Record<string, string>;
}

/** What one publish asks of the order point. */
export type Change =
  | { kind: 'event' }
  | { kind: 'joined'; lease: string }
  /** Applied only while `user` is in the room under `lease` (undefined: a member without lease). */
  | { kind: 'left'; lease: string | undefined; expired: boolean };

/** err_code of JetStream's "wrong last sequence" (an expected-last-subject-sequence miss). */
export const WRONG_LAST_SEQUENCE = 10071;
/** err_code of "no message found". */
export const NO_MESSAGE_FOUND = 10037;
/**
 * Encodes a room name (`[a-zA-Z0-9_.-]{1,64}`) as one subject token: `_` -> `__`, `.` -> `_d`.
 * Injective, so rooms `a.b` and `a_db` get different subjects.
 */
export function roomToken(room: string): string {
  return room.replace(/_/g, '__').replace(/\./g, '_d');
}

/** The room's next state after `body`, with the membership rules applied (the order point). */
export function nextState(
  last: RoomSnapshot,
  body: RoomEventBody,
  maxRoomMembers: number,
  room: string,
  change: Change,
): { seq: number; members: string[]; leases: Record<string, string>; body: RoomEventBody } {
  let { members, leases } = last;
  if (body.$case === 'presence') {
    const { user, kind } = body.presence;
    if (kind === chatV1.PresenceKind.PRESENCE_KIND_JOINED && change.kind === 'joined') {
      if (members.includes(user)) throw new GrpcError(status.ALREADY_EXISTS, `user ${JSON.stringify(user)} is already in room ${JSON.stringify(room)}`);
      if (members.length >= maxRoomMembers) throw new GrpcError(status.RESOURCE_EXHAUSTED, `room ${JSON.stringify(room)} is full (${maxRoomMembers} members)`);
      members = [...members, user].sort();
      leases = { ...leases, [user]: change.lease };
    } else if (kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT) {
      members = members.filter((m) => m !== user);
      leases = Object.fromEntries(Object.entries(leases).filter(([m]) => m !== user));
    }
    body = { $case: 'presence', presence: { ...body.presence, members } };
  }
  return { seq: last.seq + 1, members, leases, body };
}

export function leftBody(user: string): RoomEventBody {
  return { $case: 'presence', presence: { user, kind: chatV1.PresenceKind.PRESENCE_KIND_LEFT, members: [] } };
}

/** GrpcErrors pass through; anything else from NATS is UNAVAILABLE (retryable). */
export function toGrpcError(error: unknown): GrpcError {
  if (error instanceof GrpcError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new GrpcError(status.UNAVAILABLE, `chat bus (NATS) unavailable: ${message}`);
}
