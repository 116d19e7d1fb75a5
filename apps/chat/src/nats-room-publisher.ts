/**
 * A room's order point on JetStream: read the subject's last envelope, publish the next one with
 * expected-last-subject-sequence, re-read when another publisher won (README "Across replicas").
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { status } from '@grpc/grpc-js';
import { DiscardPolicy, NatsError, StorageType, type JetStreamClient, type JetStreamManager } from 'nats';
import type { PresenceLeases } from './nats-presence-leases.js';
import { leftBody, NO_MESSAGE_FOUND, nextState, roomToken, toGrpcError, WRONG_LAST_SEQUENCE, type Change, type Envelope, type RoomSnapshot } from './nats-room-state.js';
import type { RoomEvent, RoomEventBody } from './room-bus.js';

/** What {@link RoomPublisher} is given by the bus. */
export interface RoomPublisherOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** A room's subject is `<prefix>.<room token>`. */
  prefix: string;
  maxRoomMembers: number;
  clock: () => Date;
  /** Checked when a JOINED finds its name taken (is the holder's lease gone?). */
  leases: PresenceLeases;
  onEvent: (event: string, detail?: unknown) => void;
  /** Resolves once the room's consumer here exists on the server; undefined when not followed. */
  consumerReady: (room: string) => Promise<void> | undefined;
  /** Whether this replica follows the room (only those rooms' states are cached). */
  follows: (room: string) => boolean;
  closed: () => boolean;
}

/** Re-reads one publish may do when other publishers keep winning. */
const MAX_ATTEMPTS = 50;

/** Publishes a room's events in order, one at a time per room from this replica. */
export class RoomPublisher {
  /** Last known state of followed rooms (a stale entry only costs a retry). */
  private readonly cache = new Map<string, RoomSnapshot>();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly options: RoomPublisherOptions) {}

  subject(room: string): string {
    return `${this.options.prefix}.${roomToken(room)}`;
  }

  /** Creates the stream, or updates its limits when it exists. */
  async ensureStream(maxEventsPerRoom: number): Promise<void> {
    const { jsm, stream } = this.options;
    const config = {
      name: stream,
      subjects: [`${this.options.prefix}.*`],
      storage: StorageType.File,
      max_msgs_per_subject: maxEventsPerRoom,
      discard: DiscardPolicy.Old,
    };
    try {
      await jsm.streams.info(stream);
      await jsm.streams.update(stream, config);
    } catch (error) {
      if (!(error instanceof NatsError && error.api_error?.code === 404)) throw error;
      await jsm.streams.add(config);
    }
  }

  /** Runs `task` after the room's earlier publishes from this replica (a client's sends keep their order). */
  enqueue<T>(room: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(room) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tail = next.catch(() => undefined);
    this.chains.set(room, tail);
    void tail.then(() => {
      if (this.chains.get(room) === tail) this.chains.delete(room);
    });
    return next.catch((error: unknown) => {
      throw toGrpcError(error);
    });
  }

  /** The publishes queued now, of every room (close() lets them finish). */
  queued(): Promise<unknown>[] {
    return [...this.chains.values()];
  }

  /**
   * The order point (README "Across replicas"). Resolves `undefined` for a conditional LEFT whose
   * member is no longer in the room under that lease.
   */
  async publishNow(room: string, body: RoomEventBody, change: Change): Promise<RoomEvent | undefined> {
    if (this.options.closed()) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    // The joiner's own consumer must exist before its JOINED is stored, so it receives it.
    await this.options.consumerReady(room);
    for (let attempt = 1; ; attempt++) {
      const last = this.cache.get(room) ?? (await this.readLast(room));
      const user = body.$case === 'presence' ? body.presence.user : '';
      if (change.kind === 'left' && !(last.members.includes(user) && last.leases[user] === change.lease)) return undefined;
      if (change.kind === 'joined' && last.members.includes(user)) {
        // The name is taken: by a live member (ALREADY_EXISTS below), or by an expired lease,
        // whose LEFT is announced first.
        const holder = last.leases[user];
        if (holder === undefined || !(await this.options.leases.alive(room, holder))) {
          const left = await this.publishNow(room, leftBody(user), { kind: 'left', lease: holder, expired: true });
          if (left) this.options.onEvent('lease-expired', { room, user, sequence: left.sequence });
          this.cache.delete(room);
          continue;
        }
      }
      const next = nextState(last, body, this.options.maxRoomMembers, room, change);
      const time = this.options.clock();
      const envelope: Envelope = { seq: next.seq, time: time.toISOString(), members: next.members, leases: next.leases, body: next.body };
      if (change.kind !== 'event') envelope.lease = change.lease;
      if (change.kind === 'left' && change.expired) envelope.expired = true;
      try {
        const ack = await this.options.js.publish(this.subject(room), JSON.stringify(envelope), { expect: { lastSubjectSequence: last.streamSeq } });
        this.remember(room, { streamSeq: ack.seq, seq: next.seq, members: next.members, leases: next.leases });
        return { room, sequence: String(next.seq), time, event: next.body };
      } catch (error) {
        if (!(error instanceof NatsError && error.api_error?.err_code === WRONG_LAST_SEQUENCE) || attempt >= MAX_ATTEMPTS) throw error;
        this.cache.delete(room); // another replica won: re-read
      }
    }
  }

  /** The room's state at its subject's last message, read from the stream. */
  async readLast(room: string): Promise<RoomSnapshot> {
    try {
      const message = await this.options.jsm.streams.getMessage(this.options.stream, { last_by_subj: this.subject(room) });
      const envelope = message.json<Envelope>();
      return { streamSeq: message.seq, seq: envelope.seq, members: envelope.members, leases: envelope.leases ?? {} };
    } catch (error) {
      if (error instanceof NatsError && error.api_error?.err_code === NO_MESSAGE_FOUND) return { streamSeq: 0, seq: 0, members: [], leases: {} };
      throw error;
    }
  }

  /** Keeps `snapshot` as the room's state if it is newer than the one known. */
  remember(room: string, snapshot: RoomSnapshot): void {
    // Cache only rooms this replica follows (a stale entry would only cost a retry, but would
    // stay for every room ever left).
    if (!this.options.follows(room)) return;
    const known = this.cache.get(room);
    if (!known || snapshot.streamSeq > known.streamSeq) this.cache.set(room, snapshot);
  }

  /** Drops the room's known state (no longer followed). */
  forget(room: string): void {
    this.cache.delete(room);
  }

  /** Drops every known state (the connection was lost: events may have been missed). */
  forgetAll(): void {
    this.cache.clear();
  }
}
