/**
 * NatsRoomBus: the {@link RoomBus} across replicas, on NATS JetStream (chosen by `NATS_URL`).
 *
 * One JetStream stream (default `CHAT_ROOMS`, file storage) over the subjects
 * `chat.room.<room>`, one subject per room. Every stored message is an envelope
 * `{ seq, time, members, body }`: the room's sequence, its time, the room's member set after the
 * event, and the event. So the last message of a room's subject is the room's whole state.
 *
 * **Order point.** `publish()` reads the room's last message (or its cached copy), computes the
 * next state (sequence + 1, members with the JOINED / LEFT applied) and publishes it with
 * `Nats-Expected-Last-Subject-Sequence` set to that message's stream sequence. JetStream accepts
 * exactly one of several racing publishes (from any replica); the others get "wrong last
 * sequence" (err_code 10071), re-read and retry. Hence the room's `sequence` is the same on
 * every replica and increases by exactly 1 per event: no gaps, no duplicates, per room. The
 * member lists are right on every replica because they are computed at the order point.
 * Membership rules are checked there too: a JOINED of a user already in the room fails with
 * ALREADY_EXISTS, one beyond `maxRoomMembers` with RESOURCE_EXHAUSTED, whichever replica the
 * other member is on.
 *
 * **Delivery.** Each replica consumes a room's subject with one ordered (ephemeral) consumer,
 * deliver policy "new", while it has subscribers in that room, and fans out in process. A gap
 * in the room sequence (messages removed by the per-subject limit before this replica read
 * them) ends the room's subscribers with DATA_LOSS instead of skipping silently.
 *
 * **Connection loss.** When the NATS connection drops, every subscribed stream is ended with
 * UNAVAILABLE (its events can no longer be guaranteed gapless) and publishes fail with
 * UNAVAILABLE; the client reconnects by itself (no restart) and new streams work again. LEFT
 * presences that failed are retried in the background after reconnecting, so members of
 * streams ended by the outage do not stay in the room.
 *
 * Not covered: a replica that dies (SIGKILL) never publishes its members' LEFT, so they stay in
 * the room's member set until the same name leaves elsewhere (would need per-member leases,
 * e.g. a KV bucket with TTL and heartbeats). Empty rooms are never forgotten in the stream (a
 * re-opened room continues its numbering); the stream keeps `maxEventsPerRoom` messages per room.
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import {
  connect,
  DeliverPolicy,
  DiscardPolicy,
  Events,
  NatsError,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import type { RoomBus, RoomEvent, RoomEventBody, RoomEventHandler, RoomErrorHandler } from './room-bus.js';

/** Options of {@link connectNatsRoomBus}. */
export interface NatsRoomBusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` (NATS_URL). */
  servers: string;
  /** Members one room may have, across all replicas (MAX_ROOM_MEMBERS). */
  maxRoomMembers: number;
  /** JetStream stream name; default `CHAT_ROOMS`. */
  stream?: string;
  /** Subject prefix; a room's subject is `<prefix>.<room token>`. Default `chat.room`. */
  subjectPrefix?: string;
  /** Messages the stream keeps per room (max_msgs_per_subject); default 1000. */
  maxEventsPerRoom?: number;
  /** Time stamped on events; default `() => new Date()`. */
  clock?: () => Date;
  /** Called when a handler throws; default console.error. */
  onHandlerError?: (error: unknown, room: string) => void;
  /** Connection changes and background failures (disconnect, reconnect, LEFT retries). */
  onEvent?: (event: string, detail?: unknown) => void;
}

/** What the stream stores per event (JSON). */
interface Envelope {
  seq: number;
  time: string;
  members: string[];
  body: RoomEventBody;
}

/** The room's state at one stream message. */
interface RoomSnapshot {
  /** Stream sequence of the room's last message; 0 when the room has none. */
  streamSeq: number;
  seq: number;
  members: string[];
}

interface Subscriber {
  handler: RoomEventHandler;
  onError?: RoomErrorHandler;
  since: number;
}

interface RoomConsumer {
  subscribers: Set<Subscriber>;
  /** Resolves once the consumer exists on the server (events published after it reach us). */
  ready: Promise<void>;
  messages?: ConsumerMessages;
  /** Room sequence last delivered here; 0 before the first. */
  lastSeq: number;
  stopped: boolean;
}

/** err_code of JetStream's "wrong last sequence" (an expected-last-subject-sequence miss). */
const WRONG_LAST_SEQUENCE = 10071;
/** err_code of "no message found". */
const NO_MESSAGE_FOUND = 10037;
/** Re-reads one publish may do when other publishers keep winning. */
const MAX_ATTEMPTS = 50;

/**
 * Connects to NATS, creates (or updates) the stream and returns the bus.
 *
 * @throws when NATS is unreachable or JetStream is not enabled (main.ts: start-up fails).
 */
export async function connectNatsRoomBus(options: NatsRoomBusOptions): Promise<NatsRoomBus> {
  const nc = await connect({ servers: options.servers.split(','), name: 'chat', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  try {
    const jsm = await nc.jetstreamManager();
    const bus = new NatsRoomBus(nc, jsm, options);
    await bus.ensureStream();
    return bus;
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/**
 * Encodes a room name (`[a-zA-Z0-9_.-]{1,64}`) as one subject token: `_` -> `__`, `.` -> `_d`.
 * Injective, so rooms `a.b` and `a_db` get different subjects.
 */
export function roomToken(room: string): string {
  return room.replace(/_/g, '__').replace(/\./g, '_d');
}

/** The {@link RoomBus} on NATS JetStream; see the file comment. Build it with {@link connectNatsRoomBus}. */
export class NatsRoomBus implements RoomBus {
  /** Members are decided by the bus (across replicas), not by one process. */
  readonly sharedMembership = true;
  private readonly js: JetStreamClient;
  private readonly stream: string;
  private readonly prefix: string;
  private readonly clock: () => Date;
  private readonly onHandlerError: (error: unknown, room: string) => void;
  private readonly onEvent: (event: string, detail?: unknown) => void;
  private readonly rooms = new Map<string, RoomConsumer>();
  private readonly cache = new Map<string, RoomSnapshot>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: NatsRoomBusOptions,
  ) {
    this.js = nc.jetstream();
    this.stream = options.stream ?? 'CHAT_ROOMS';
    this.prefix = options.subjectPrefix ?? 'chat.room';
    this.clock = options.clock ?? (() => new Date());
    this.onHandlerError = options.onHandlerError ?? ((error, room) => console.error(`room ${room}: event handler failed:`, error));
    this.onEvent = options.onEvent ?? (() => undefined);
    void this.watchConnection();
  }

  /** Creates the stream, or updates its limits when it exists. */
  async ensureStream(): Promise<void> {
    const config = {
      name: this.stream,
      subjects: [`${this.prefix}.*`],
      storage: StorageType.File,
      max_msgs_per_subject: this.options.maxEventsPerRoom ?? 1000,
      discard: DiscardPolicy.Old,
    };
    try {
      await this.jsm.streams.info(this.stream);
      await this.jsm.streams.update(this.stream, config);
    } catch (error) {
      if (!(error instanceof NatsError && error.api_error?.code === 404)) throw error;
      await this.jsm.streams.add(config);
    }
  }

  publish(room: string, body: RoomEventBody): Promise<RoomEvent> {
    const previous = this.chains.get(room) ?? Promise.resolve();
    // One publish per room at a time from this replica: a client's sends keep their order.
    const next = previous.then(
      () => this.publishNow(room, body),
      () => this.publishNow(room, body),
    );
    const tail = next.catch(() => undefined);
    this.chains.set(room, tail);
    void tail.then(() => {
      if (this.chains.get(room) === tail) this.chains.delete(room);
    });
    const result = next.catch((error: unknown) => {
      throw toGrpcError(error);
    });
    if (body.$case === 'presence' && body.presence.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT) {
      result.catch((error: unknown) => this.retryLeft(room, body, error, 1));
    }
    return result;
  }

  subscribe(room: string, handler: RoomEventHandler, onError?: RoomErrorHandler): () => void {
    if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    let consumer = this.rooms.get(room);
    if (!consumer) consumer = this.startConsumer(room);
    const subscriber: Subscriber = { handler, onError, since: consumer.lastSeq };
    consumer.subscribers.add(subscriber);
    const owner = consumer;
    return () => {
      if (!owner.subscribers.delete(subscriber)) return;
      if (owner.subscribers.size === 0) this.stopConsumer(room, owner);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [room, consumer] of this.rooms) this.stopConsumer(room, consumer);
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** Rooms this replica consumes now (for tests: empty rooms must not linger). */
  roomCount(): number {
    return this.rooms.size;
  }

  /** The room's state as the stream has it now (members after its last event). */
  async roomState(room: string): Promise<{ sequence: number; members: string[] }> {
    const snapshot = await this.readLast(room);
    return { sequence: snapshot.seq, members: snapshot.members };
  }

  private subject(room: string): string {
    return `${this.prefix}.${roomToken(room)}`;
  }

  private async publishNow(room: string, body: RoomEventBody): Promise<RoomEvent> {
    if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    // The joiner's own consumer must exist before its JOINED is stored, so it receives it.
    await this.rooms.get(room)?.ready;
    for (let attempt = 1; ; attempt++) {
      const last = this.cache.get(room) ?? (await this.readLast(room));
      const next = nextState(last, body, this.options.maxRoomMembers, room);
      const time = this.clock();
      const envelope: Envelope = { seq: next.seq, time: time.toISOString(), members: next.members, body: next.body };
      try {
        const ack = await this.js.publish(this.subject(room), JSON.stringify(envelope), { expect: { lastSubjectSequence: last.streamSeq } });
        this.remember(room, { streamSeq: ack.seq, seq: next.seq, members: next.members });
        return { room, sequence: String(next.seq), time, event: next.body };
      } catch (error) {
        if (!(error instanceof NatsError && error.api_error?.err_code === WRONG_LAST_SEQUENCE) || attempt >= MAX_ATTEMPTS) throw error;
        this.cache.delete(room); // another replica won: re-read
      }
    }
  }

  private async readLast(room: string): Promise<RoomSnapshot> {
    try {
      const message = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(room) });
      const envelope = message.json<Envelope>();
      return { streamSeq: message.seq, seq: envelope.seq, members: envelope.members };
    } catch (error) {
      if (error instanceof NatsError && error.api_error?.err_code === NO_MESSAGE_FOUND) return { streamSeq: 0, seq: 0, members: [] };
      throw error;
    }
  }

  private remember(room: string, snapshot: RoomSnapshot): void {
    // Cache only rooms this replica follows (a stale entry would only cost a retry, but would
    // stay for every room ever left).
    if (!this.rooms.has(room)) return;
    const known = this.cache.get(room);
    if (!known || snapshot.streamSeq > known.streamSeq) this.cache.set(room, snapshot);
  }

  private retryLeft(room: string, body: RoomEventBody, error: unknown, attempt: number): void {
    const reason = toGrpcError(error);
    // Only transport failures are worth retrying; and not forever (about 2 minutes).
    if (this.closed || reason.code !== status.UNAVAILABLE || attempt > 60) {
      this.onEvent('left-presence-lost', { room, error });
      return;
    }
    setTimeout(
      () => {
        if (this.closed) return;
        this.publishNow(room, body).then(
          () => this.onEvent('left-presence-retried', { room, attempt }),
          (next: unknown) => this.retryLeft(room, body, next, attempt + 1),
        );
      },
      Math.min(2000, 100 * 2 ** attempt),
    ).unref();
  }

  private startConsumer(room: string): RoomConsumer {
    const consumer: RoomConsumer = { subscribers: new Set(), ready: Promise.resolve(), lastSeq: 0, stopped: false };
    this.rooms.set(room, consumer);
    consumer.ready = (async () => {
      const ordered = await this.js.consumers.get(this.stream, { filterSubjects: this.subject(room), deliver_policy: DeliverPolicy.New });
      const messages = await ordered.consume();
      if (consumer.stopped) {
        await messages.close();
        return;
      }
      consumer.messages = messages;
      void this.readLoop(room, consumer, messages);
    })();
    consumer.ready.catch((error: unknown) => this.failRoom(room, consumer, toGrpcError(error)));
    return consumer;
  }

  private async readLoop(room: string, consumer: RoomConsumer, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (consumer.stopped) return;
        const envelope = message.json<Envelope>();
        this.remember(room, { streamSeq: message.seq, seq: envelope.seq, members: envelope.members });
        if (consumer.lastSeq !== 0 && envelope.seq !== consumer.lastSeq + 1) {
          this.failRoom(room, consumer, new GrpcError(status.DATA_LOSS, `room ${JSON.stringify(room)}: events ${consumer.lastSeq + 1}-${envelope.seq - 1} are gone`));
          return;
        }
        consumer.lastSeq = envelope.seq;
        const event: RoomEvent = { room, sequence: String(envelope.seq), time: new Date(envelope.time), event: envelope.body };
        for (const subscriber of consumer.subscribers) {
          if (subscriber.since >= envelope.seq) continue;
          try {
            subscriber.handler(event);
          } catch (error) {
            this.onHandlerError(error, room);
          }
        }
      }
    } catch (error) {
      this.failRoom(room, consumer, toGrpcError(error));
    }
  }

  private stopConsumer(room: string, consumer: RoomConsumer): void {
    consumer.stopped = true;
    if (this.rooms.get(room) === consumer) this.rooms.delete(room);
    this.cache.delete(room);
    void consumer.messages?.close().catch(() => undefined);
  }

  /** Ends the room's subscribers with `error` (each once) and drops the consumer. */
  private failRoom(room: string, consumer: RoomConsumer, error: GrpcError): void {
    if (consumer.stopped) return;
    this.stopConsumer(room, consumer);
    const subscribers = [...consumer.subscribers];
    consumer.subscribers.clear();
    for (const subscriber of subscribers) subscriber.onError?.(error);
  }

  private async watchConnection(): Promise<void> {
    for await (const event of this.nc.status()) {
      if (event.type === Events.Disconnect) {
        this.onEvent('disconnect', event.data);
        this.cache.clear();
        for (const [room, consumer] of [...this.rooms]) this.failRoom(room, consumer, new GrpcError(status.UNAVAILABLE, 'chat bus: NATS connection lost'));
      } else if (event.type === Events.Reconnect) {
        this.onEvent('reconnect', event.data);
      }
    }
  }
}

/** The room's next state after `body`, with the membership rules applied (the order point). */
function nextState(last: RoomSnapshot, body: RoomEventBody, maxRoomMembers: number, room: string): { seq: number; members: string[]; body: RoomEventBody } {
  let members = last.members;
  if (body.$case === 'presence') {
    const { user, kind } = body.presence;
    if (kind === chatV1.PresenceKind.PRESENCE_KIND_JOINED) {
      if (members.includes(user)) throw new GrpcError(status.ALREADY_EXISTS, `user ${JSON.stringify(user)} is already in room ${JSON.stringify(room)}`);
      if (members.length >= maxRoomMembers) throw new GrpcError(status.RESOURCE_EXHAUSTED, `room ${JSON.stringify(room)} is full (${maxRoomMembers} members)`);
      members = [...members, user].sort();
    } else if (kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT) {
      members = members.filter((m) => m !== user);
    }
    body = { $case: 'presence', presence: { ...body.presence, members } };
  }
  return { seq: last.seq + 1, members, body };
}

/** GrpcErrors pass through; anything else from NATS is UNAVAILABLE (retryable). */
function toGrpcError(error: unknown): GrpcError {
  if (error instanceof GrpcError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new GrpcError(status.UNAVAILABLE, `chat bus (NATS) unavailable: ${message}`);
}
