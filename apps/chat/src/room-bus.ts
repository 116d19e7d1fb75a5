/**
 * RoomBus: the fan-out seam of the chat service, and the one place where a room's order is
 * decided.
 *
 * Every event of a room (a message, a join, a leave) goes through `publish()`, which gives it
 * the room's next sequence number and its time; every subscriber of the room then receives the
 * room's events in that order, with no gaps, from the moment it subscribed until it
 * unsubscribes. Nothing else in the service numbers events.
 *
 * {@link InProcessRoomBus} keeps the counter in this process: one event loop, so "the order
 * publish() was called in" is the room's order. A bus across replicas (NATS) keeps the same
 * interface and moves the decision to the broker: one subject per room, the order the broker
 * accepted the publishes in (for JetStream, the stream sequence).
 */
import type { chatV1 } from '@grpc-patterns/proto';

/** What a publisher hands the bus: a message or a presence change, not yet numbered. */
export type RoomEventBody = NonNullable<chatV1.ChatResponse['event']>;

/**
 * A numbered event as every subscriber receives it: the ChatResponse sent to clients, with
 * `sequence` (the room's order, from "1") and `time` set. Shared by all subscribers: read only.
 */
export type RoomEvent = chatV1.ChatResponse & { sequence: string; time: Date; event: RoomEventBody };

/** Receives a room's events, one call per event, in sequence order. Must not throw or block. */
export type RoomEventHandler = (event: RoomEvent) => void;

/**
 * Told when a subscription ends because the bus failed (UNAVAILABLE: connection lost; DATA_LOSS:
 * events missed). No event reaches the subscription's handler afterwards. Must not throw.
 */
export type RoomErrorHandler = (error: Error) => void;

/** The fan-out interface; see the file comment for its ordering contract. */
export interface RoomBus {
  /**
   * True when the bus decides room membership itself (across replicas): it computes the
   * `members` of presence events and rejects a JOINED with ALREADY_EXISTS / RESOURCE_EXHAUSTED.
   * Absent or false: membership is the caller's (in process).
   */
  readonly sharedMembership?: boolean;
  /**
   * Numbers `body` with the room's next sequence and delivers it to the room's subscribers.
   * This is the order point: the sequence is assigned here and nowhere else.
   *
   * @param member with a JOINED on a bus that shares membership: the id of this membership
   *   (the one given to {@link subscribe}); the bus ties the member's lease to it.
   * @returns the numbered event.
   */
  publish(room: string, body: RoomEventBody, member?: string): Promise<RoomEvent>;
  /**
   * Starts delivering the room's events numbered after this call to `handler`.
   *
   * `onError` is called at most once if the bus ends the subscription (a bus across the network
   * can fail; the in-process bus never does).
   *
   * @param member an id unique to one membership (one user's stay in one room on this replica),
   *   given again with its JOINED ({@link publish}) and LEFT ({@link leave}); a bus that shares
   *   membership ends this subscription when the member's lease is lost.
   * @returns a function that stops delivery (idempotent); no event reaches `handler` after it.
   */
  subscribe(room: string, handler: RoomEventHandler, onError?: RoomErrorHandler, member?: string): () => void;
  /**
   * Buses that share membership: publishes the LEFT of `user` if membership `member` is still in
   * the room, and nothing if it is not (its lease expired and a replica already announced it), so
   * a member leaves exactly once. Resolves when done either way.
   *
   * @throws GrpcError UNAVAILABLE when the bus cannot reach the room (the lease then expires and
   *   the LEFT is announced by another replica, or by this one later).
   */
  leave?(room: string, user: string, member: string): Promise<void>;
  /** Releases the bus (connections, state). */
  close(): Promise<void>;
}

/** Options of {@link InProcessRoomBus}. */
export interface InProcessRoomBusOptions {
  /** Time stamped on events; default `() => new Date()`. */
  clock?: () => Date;
  /** Called when a handler throws (delivery to the others goes on); default: console.error. */
  onHandlerError?: (error: unknown, room: string) => void;
}

interface Subscriber {
  handler: RoomEventHandler;
  /** Last sequence of the room when it subscribed: it receives only later events. */
  since: number;
}

interface RoomState {
  /** Last sequence assigned. */
  sequence: number;
  subscribers: Set<Subscriber>;
  /** Numbered, not yet delivered: only non-empty while a handler publishes (re-entrancy). */
  pending: RoomEvent[];
  delivering: boolean;
}

/**
 * The in-process {@link RoomBus}: per room a counter and subscribers, delivery synchronous in `publish()`, a
 * nested publish queued behind, an empty room forgotten (README "Explanation: Where order is decided").
 */
export class InProcessRoomBus implements RoomBus {
  private readonly rooms = new Map<string, RoomState>();
  private readonly clock: () => Date;
  private readonly onHandlerError: (error: unknown, room: string) => void;

  constructor(options: InProcessRoomBusOptions = {}) {
    this.clock = options.clock ?? (() => new Date());
    this.onHandlerError = options.onHandlerError ?? ((error, room) => console.error(`room ${room}: event handler failed:`, error));
  }

  publish(room: string, body: RoomEventBody): Promise<RoomEvent> {
    const state = this.state(room);
    state.sequence += 1;
    const event: RoomEvent = { room, sequence: String(state.sequence), time: this.clock(), event: body };
    state.pending.push(event);
    this.deliver(room, state);
    return Promise.resolve(event);
  }

  subscribe(room: string, handler: RoomEventHandler): () => void {
    const state = this.state(room);
    const subscriber: Subscriber = { handler, since: state.sequence };
    state.subscribers.add(subscriber);
    return () => {
      if (!state.subscribers.delete(subscriber)) return;
      this.forgetIfIdle(room, state);
    };
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }

  /** Rooms with state in this process (for tests: empty rooms must not linger). */
  roomCount(): number {
    return this.rooms.size;
  }

  private state(room: string): RoomState {
    let state = this.rooms.get(room);
    if (!state) {
      state = { sequence: 0, subscribers: new Set(), pending: [], delivering: false };
      this.rooms.set(room, state);
    }
    return state;
  }

  private deliver(room: string, state: RoomState): void {
    if (state.delivering) return; // the outer loop below delivers it, in order
    state.delivering = true;
    try {
      for (let event = state.pending.shift(); event; event = state.pending.shift()) {
        const sequence = Number(event.sequence);
        // A Set iterates in insertion order, skips members deleted meanwhile and visits ones
        // added meanwhile; `since` keeps the latter from seeing events older than themselves.
        for (const subscriber of state.subscribers) {
          if (subscriber.since >= sequence) continue;
          try {
            subscriber.handler(event);
          } catch (error) {
            this.onHandlerError(error, room);
          }
        }
      }
    } finally {
      state.delivering = false;
    }
    this.forgetIfIdle(room, state);
  }

  private forgetIfIdle(room: string, state: RoomState): void {
    if (state.subscribers.size === 0 && !state.delivering && state.pending.length === 0 && this.rooms.get(room) === state) {
      this.rooms.delete(room);
    }
  }
}
