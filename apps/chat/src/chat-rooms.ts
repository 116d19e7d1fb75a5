/**
 * Room membership: who is in which room, the rules for joining, and the presence events that
 * say so. Events go out through the {@link RoomBus}, which numbers them (the order point).
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { RoomBus, RoomErrorHandler, RoomEvent, RoomEventBody, RoomEventHandler } from './room-bus.js';

/** One user's place in one room, as {@link ChatRooms.join} hands it out. */
export interface Membership {
  readonly room: string;
  readonly user: string;
  /** Resolves to the user's JOINED presence event once the bus has numbered it. */
  readonly joined: Promise<RoomEvent>;
  /** Publishes a message from this user; resolves to the numbered event (the sender's echo). */
  send(text: string): Promise<RoomEvent>;
  /**
   * Leaves the room: stops delivery to this member first, then publishes its LEFT presence to
   * the others (so the leaver never sees its own LEFT). Idempotent: however many ways a stream
   * ends at once (cancel, overflow, error), the others see exactly one LEFT.
   */
  leave(): void;
}

/** Options of {@link ChatRooms}. */
export interface ChatRoomsOptions {
  bus: RoomBus;
  /** Members one room may have; the next join fails with RESOURCE_EXHAUSTED. */
  maxRoomMembers: number;
  /** Where a failed LEFT publish is reported (a bus across the network can fail). */
  onPublishError?: (error: unknown, room: string) => void;
}

/**
 * The rooms of this process and their members; a membership change and its presence event happen in one
 * synchronous step (README "Explanation: Membership next to the order", and "Across replicas").
 */
export class ChatRooms {
  private readonly rooms = new Map<string, Set<string>>();

  constructor(private readonly options: ChatRoomsOptions) {}

  /**
   * Adds `user` to `room`, subscribes `handler` to the room's events and publishes the user's
   * JOINED presence. The handler's first event is that JOINED (in process: nothing can be
   * numbered between the subscription and it).
   *
   * With a bus that shares membership across replicas ({@link RoomBus.sharedMembership}), the
   * checks below see only this replica's members; the bus repeats them over the whole room and
   * `joined` rejects with the same codes. The handler then skips whatever the room delivered
   * before the user's own JOINED, so a stream still starts with its JOINED.
   *
   * @param onError called if the bus ends the subscription (UNAVAILABLE, DATA_LOSS).
   * @throws GrpcError ALREADY_EXISTS when the name is taken in the room; RESOURCE_EXHAUSTED
   *   when the room has `maxRoomMembers` members.
   */
  join(room: string, user: string, handler: RoomEventHandler, onError?: RoomErrorHandler): Membership {
    const members = this.rooms.get(room) ?? new Set<string>();
    if (members.has(user)) throw new GrpcError(status.ALREADY_EXISTS, `user ${JSON.stringify(user)} is already in room ${JSON.stringify(room)}`);
    if (members.size >= this.options.maxRoomMembers) {
      throw new GrpcError(status.RESOURCE_EXHAUSTED, `room ${JSON.stringify(room)} is full (${this.options.maxRoomMembers} members)`);
    }
    members.add(user);
    this.rooms.set(room, members);
    const { bus } = this.options;
    const shared = bus.sharedMembership === true;
    // This membership's id: the bus ties the member's subscription, JOINED, lease and LEFT to it.
    const member = randomUUID();
    let seenOwnJoin = !shared;
    const unsubscribe = bus.subscribe(
      room,
      (event) => {
        if (!seenOwnJoin) {
          const body = event.event;
          if (body.$case !== 'presence' || body.presence.user !== user || body.presence.kind !== chatV1.PresenceKind.PRESENCE_KIND_JOINED) return;
          seenOwnJoin = true;
        }
        handler(event);
      },
      onError,
      member,
    );
    const joined = bus.publish(room, presence(user, chatV1.PresenceKind.PRESENCE_KIND_JOINED, members), member);
    let left = false;
    return {
      room,
      user,
      joined,
      send: (text) => {
        if (left) return Promise.reject(new GrpcError(status.FAILED_PRECONDITION, `not in room ${JSON.stringify(room)}`));
        return bus.publish(room, { $case: 'message', message: { user, text } });
      },
      leave: () => {
        if (left) return;
        left = true;
        unsubscribe();
        members.delete(user);
        if (shared) {
          if (members.size === 0 && this.rooms.get(room) === members) this.rooms.delete(room);
          // Other replicas may have members: always publish the LEFT, but only for a JOINED
          // that the bus accepted (a rejected join never entered the room). The bus publishes it
          // only while this membership is still in the room (once, even if its lease expired).
          joined.then(
            () => {
              const left = bus.leave ? bus.leave(room, user, member) : bus.publish(room, presence(user, chatV1.PresenceKind.PRESENCE_KIND_LEFT, members));
              left.catch((error: unknown) => this.options.onPublishError?.(error, room));
            },
            () => undefined,
          );
          return;
        }
        if (members.size === 0) {
          // Nobody is left to see the LEFT: forget the room instead of publishing it.
          if (this.rooms.get(room) === members) this.rooms.delete(room);
          return;
        }
        bus.publish(room, presence(user, chatV1.PresenceKind.PRESENCE_KIND_LEFT, members)).catch((error: unknown) => this.options.onPublishError?.(error, room));
      },
    };
  }

  /** The room's members now, sorted; [] for a room nobody is in. */
  members(room: string): string[] {
    return sorted(this.rooms.get(room) ?? new Set());
  }

  /** Number of rooms with at least one member. */
  roomCount(): number {
    return this.rooms.size;
  }
}

function presence(user: string, kind: chatV1.PresenceKind, members: Set<string>): RoomEventBody {
  return { $case: 'presence', presence: { user, kind, members: sorted(members) } };
}

/** Sorted by UTF-16 code units (JavaScript's default sort): the same order on every replica. */
function sorted(members: Set<string>): string[] {
  return [...members].sort();
}
