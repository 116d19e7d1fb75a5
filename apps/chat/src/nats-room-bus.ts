/**
 * NatsRoomBus: the {@link RoomBus} across replicas, on NATS JetStream (chosen by `NATS_URL`): one
 * subject per room, an expected-last-subject-sequence order point, presence leases in a KV bucket,
 * one ordered consumer per followed room. apps/chat/README.md "Explanation" says how and why.
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
  type KV,
  type NatsConnection,
} from 'nats';
import { assertLeaseTiming } from './config.js';
import { openLeaseBucket, PresenceLeases, type Lease } from './nats-presence-leases.js';
import { leftBody, NO_MESSAGE_FOUND, nextState, roomToken, toGrpcError, WRONG_LAST_SEQUENCE, type Change, type Envelope, type RoomSnapshot } from './nats-room-state.js';
export { roomToken };
import type { RoomBus, RoomEvent, RoomEventBody, RoomEventHandler, RoomErrorHandler } from './room-bus.js';

/** Options of {@link connectNatsRoomBus}. */
export interface NatsRoomBusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222` (NATS_URL). */
  servers: string;
  /** Members one room may have, across all replicas (MAX_ROOM_MEMBERS). */
  maxRoomMembers: number;
  /**
   * A member's lease lives this long after its last renewal, ms (PRESENCE_LEASE_TTL_MS;
   * default 15 000). It is the KV bucket's `max_age`: every replica must use the same value.
   */
  leaseTtlMs?: number;
  /** Leases are renewed and followed rooms swept this often, ms (PRESENCE_HEARTBEAT_MS; default 5 000; at most half the TTL). */
  heartbeatMs?: number;
  /** JetStream KV bucket of the leases (PRESENCE_BUCKET); default `CHAT_PRESENCE`. */
  leaseBucket?: string;
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
  /** Connection changes and background work (disconnect, reconnect, lease-expired, lease-lost, sweep-failed). */
  onEvent?: (event: string, detail?: unknown) => void;
}

/** Default lease TTL, ms: a SIGKILLed replica's members are announced as left within about TTL + heartbeat. */
export const DEFAULT_LEASE_TTL_MS = 15_000;
/** Default renewal and sweep interval, ms: three renewals per TTL, so one late renewal loses nothing. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Status message of a stream ended because its member's lease expired. */
export const LEASE_EXPIRED_MESSAGE = 'presence lease expired: the room no longer counts this member; join again';

interface Subscriber {
  handler: RoomEventHandler;
  onError?: RoomErrorHandler;
  since: number;
  member?: string;
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

/** Re-reads one publish may do when other publishers keep winning. */
const MAX_ATTEMPTS = 50;
/** How long close() lets queued publishes (the LEFTs of a shutdown) finish, ms. */
const CLOSE_FLUSH_MS = 2_000;

/**
 * Connects to NATS, creates (or updates) the stream and the lease bucket, and returns the bus.
 *
 * @throws ConfigError PRESENCE_LEASE_TTL_MS when the lease bucket exists with another TTL (every
 *   replica must use the same), PRESENCE_HEARTBEAT_MS when it is more than half the TTL;
 *   anything else when NATS is unreachable or JetStream is not enabled (main.ts: start-up fails).
 */
export async function connectNatsRoomBus(options: NatsRoomBusOptions): Promise<NatsRoomBus> {
  assertLeaseTiming(options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  const nc = await connect({ servers: options.servers.split(','), name: 'chat', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  try {
    const jsm = await nc.jetstreamManager();
    const kv = await openLeaseBucket(nc, options.leaseBucket ?? 'CHAT_PRESENCE', options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
    const bus = new NatsRoomBus(nc, jsm, kv, options);
    await bus.ensureStream();
    return bus;
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/** The {@link RoomBus} on NATS JetStream; apps/chat/README.md "Explanation". Build it with {@link connectNatsRoomBus}. */
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
  /** This replica's leases (nats-presence-leases.ts). */
  private readonly leases: PresenceLeases;
  /** Subscribers by membership id (the lease's stream, ended when the lease is lost). */
  private readonly members = new Map<string, { consumer: RoomConsumer; subscriber: Subscriber }>();
  private readonly heartbeat: NodeJS.Timeout;
  private sweeping = false;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    kv: KV,
    private readonly options: NatsRoomBusOptions,
  ) {
    this.js = nc.jetstream();
    this.leases = new PresenceLeases(kv, (lease) => this.leaseLost(lease));
    this.stream = options.stream ?? 'CHAT_ROOMS';
    this.prefix = options.subjectPrefix ?? 'chat.room';
    this.clock = options.clock ?? (() => new Date());
    this.onHandlerError = options.onHandlerError ?? ((error, room) => console.error(`room ${room}: event handler failed:`, error));
    this.onEvent = options.onEvent ?? (() => undefined);
    this.heartbeat = setInterval(() => this.tick(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeat.unref();
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

  /**
   * A JOINED needs `member` (its membership id): the lease is created first, then the JOINED
   * published with its id; if the JOINED is rejected the lease is deleted again.
   */
  publish(room: string, body: RoomEventBody, member?: string): Promise<RoomEvent> {
    if (body.$case === 'presence') {
      const { user, kind } = body.presence;
      if (kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT) return Promise.reject(new GrpcError(status.INTERNAL, 'NatsRoomBus: a LEFT goes through leave()'));
      if (kind === chatV1.PresenceKind.PRESENCE_KIND_JOINED) {
        if (member === undefined) return Promise.reject(new GrpcError(status.INTERNAL, 'NatsRoomBus: a JOINED needs its membership id'));
        return this.enqueue(room, async () => {
          if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
          const lease = await this.leases.create(room, user, member);
          try {
            const event = await this.publishNow(room, body, { kind: 'joined', lease: lease.id });
            if (!event) throw new GrpcError(status.INTERNAL, 'JOINED not published');
            return event;
          } catch (error) {
            this.leases.drop(lease);
            this.leases.deleteKey(lease);
            throw error;
          }
        });
      }
    }
    return this.enqueue(room, async () => {
      const event = await this.publishNow(room, body, { kind: 'event' });
      if (!event) throw new GrpcError(status.INTERNAL, 'event not published');
      return event;
    });
  }

  async leave(room: string, user: string, member: string): Promise<void> {
    const lease = this.leases.ofMember(member);
    if (!lease) return; // its JOINED never went through this bus (rejected, or the bus was closed)
    this.leases.drop(lease);
    const lost = lease.state === 'lost';
    lease.state = 'ended';
    try {
      // Conditional: a no-op when another replica already announced this member (its lease expired).
      await this.enqueue(room, () => this.publishNow(room, leftBody(user), { kind: 'left', lease: lease.id, expired: lost }));
    } finally {
      // After a failed LEFT too: a deleted lease is announced by the next sweep of any replica.
      this.leases.deleteKey(lease);
    }
  }

  subscribe(room: string, handler: RoomEventHandler, onError?: RoomErrorHandler, member?: string): () => void {
    if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    let consumer = this.rooms.get(room);
    if (!consumer) consumer = this.startConsumer(room);
    const subscriber: Subscriber = { handler, onError, since: consumer.lastSeq, member };
    consumer.subscribers.add(subscriber);
    if (member !== undefined) this.members.set(member, { consumer, subscriber });
    const owner = consumer;
    return () => {
      if (member !== undefined && this.members.get(member)?.subscriber === subscriber) this.members.delete(member);
      if (!owner.subscribers.delete(subscriber)) return;
      if (owner.subscribers.size === 0) this.stopConsumer(room, owner);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.heartbeat);
    // The LEFTs of the streams a shutdown just ended are queued: let them reach the room.
    await Promise.race([Promise.allSettled([...this.chains.values()]), new Promise((resolve) => setTimeout(resolve, CLOSE_FLUSH_MS).unref())]);
    this.closed = true;
    for (const [room, consumer] of this.rooms) this.stopConsumer(room, consumer);
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** Rooms this replica consumes now (for tests: empty rooms must not linger). */
  roomCount(): number {
    return this.rooms.size;
  }

  /** Leases this replica renews now (for tests: left members must not keep one). */
  leaseCount(): number {
    return this.leases.count();
  }

  /** The room's state as the stream has it now (members after its last event). */
  async roomState(room: string): Promise<{ sequence: number; members: string[] }> {
    const snapshot = await this.readLast(room);
    return { sequence: snapshot.seq, members: snapshot.members };
  }

  /**
   * Publishes a LEFT for every member of `room` whose lease is gone (README "Presence leases").
   * Runs every heartbeat for each followed room; public for tests and tools.
   *
   * @returns the users this call announced (others may have won the race for some).
   */
  async sweep(room: string): Promise<string[]> {
    // State first, keys second: a member in this state had its key before the state was written,
    // so a key missing now expired (or was deleted after a LEFT, which the re-check skips).
    const state = await this.readLast(room);
    if (state.members.length === 0) return [];
    const live = await this.leases.liveKeys(room);
    const announced: string[] = [];
    for (const user of state.members) {
      const lease = state.leases[user];
      if (lease !== undefined && live.has(this.leases.key(room, lease))) continue;
      // The listing said gone: confirm with a direct read before announcing.
      if (lease !== undefined && (await this.leases.alive(room, lease))) continue;
      const event = await this.enqueue(room, () => this.publishNow(room, leftBody(user), { kind: 'left', lease, expired: true }));
      if (event) {
        announced.push(user);
        this.onEvent('lease-expired', { room, user, sequence: event.sequence });
      }
    }
    return announced;
  }

  private subject(room: string): string {
    return `${this.prefix}.${roomToken(room)}`;
  }


  /** Runs `task` after the room's earlier publishes from this replica (a client's sends keep their order). */
  private enqueue<T>(room: string, task: () => Promise<T>): Promise<T> {
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

  /**
   * The order point (README "Across replicas"). Resolves `undefined` for a conditional LEFT whose
   * member is no longer in the room under that lease.
   */
  private async publishNow(room: string, body: RoomEventBody, change: Change): Promise<RoomEvent | undefined> {
    if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    // The joiner's own consumer must exist before its JOINED is stored, so it receives it.
    await this.rooms.get(room)?.ready;
    for (let attempt = 1; ; attempt++) {
      const last = this.cache.get(room) ?? (await this.readLast(room));
      const user = body.$case === 'presence' ? body.presence.user : '';
      if (change.kind === 'left' && !(last.members.includes(user) && last.leases[user] === change.lease)) return undefined;
      if (change.kind === 'joined' && last.members.includes(user)) {
        // The name is taken: by a live member (ALREADY_EXISTS below), or by an expired lease,
        // whose LEFT is announced first.
        const holder = last.leases[user];
        if (holder === undefined || !(await this.leases.alive(room, holder))) {
          const left = await this.publishNow(room, leftBody(user), { kind: 'left', lease: holder, expired: true });
          if (left) this.onEvent('lease-expired', { room, user, sequence: left.sequence });
          this.cache.delete(room);
          continue;
        }
      }
      const next = nextState(last, body, this.options.maxRoomMembers, room, change);
      const time = this.clock();
      const envelope: Envelope = { seq: next.seq, time: time.toISOString(), members: next.members, leases: next.leases, body: next.body };
      if (change.kind !== 'event') envelope.lease = change.lease;
      if (change.kind === 'left' && change.expired) envelope.expired = true;
      try {
        const ack = await this.js.publish(this.subject(room), JSON.stringify(envelope), { expect: { lastSubjectSequence: last.streamSeq } });
        this.remember(room, { streamSeq: ack.seq, seq: next.seq, members: next.members, leases: next.leases });
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
      return { streamSeq: message.seq, seq: envelope.seq, members: envelope.members, leases: envelope.leases ?? {} };
    } catch (error) {
      if (error instanceof NatsError && error.api_error?.err_code === NO_MESSAGE_FOUND) return { streamSeq: 0, seq: 0, members: [], leases: {} };
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




  /** Every heartbeat: renew this replica's leases; sweep the rooms it follows (each at most once at a time). */
  private tick(): void {
    if (this.closed) return;
    this.leases.renewAll();
    if (!this.sweeping) {
      this.sweeping = true;
      void Promise.allSettled([...this.rooms.keys()].map((room) => this.sweepQuietly(room))).finally(() => (this.sweeping = false));
    }
  }


  /** Our member's lease expired under us: end its stream (its session then leaves, conditionally). */
  private leaseLost(lease: Lease): void {
    if (lease.state !== 'live') return;
    lease.state = 'lost';
    this.onEvent('lease-lost', { room: lease.room, user: lease.user });
    const entry = this.members.get(lease.member);
    if (!entry) return;
    this.members.delete(lease.member);
    entry.consumer.subscribers.delete(entry.subscriber);
    if (entry.consumer.subscribers.size === 0) this.stopConsumer(lease.room, entry.consumer);
    entry.subscriber.onError?.(new GrpcError(status.UNAVAILABLE, LEASE_EXPIRED_MESSAGE));
  }

  private async sweepQuietly(room: string): Promise<void> {
    try {
      await this.sweep(room);
    } catch (error) {
      this.onEvent('sweep-failed', { room, error });
    }
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
    consumer.ready.then(
      () => this.sweepQuietly(room), // members a dead replica left behind while nobody here followed the room
      (error: unknown) => this.failRoom(room, consumer, toGrpcError(error)),
    );
    return consumer;
  }

  private async readLoop(room: string, consumer: RoomConsumer, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (consumer.stopped) return;
        const envelope = message.json<Envelope>();
        this.remember(room, { streamSeq: message.seq, seq: envelope.seq, members: envelope.members, leases: envelope.leases ?? {} });
        if (consumer.lastSeq !== 0 && envelope.seq !== consumer.lastSeq + 1) {
          this.failRoom(room, consumer, new GrpcError(status.DATA_LOSS, `room ${JSON.stringify(room)}: events ${consumer.lastSeq + 1}-${envelope.seq - 1} are gone`));
          return;
        }
        consumer.lastSeq = envelope.seq;
        // A LEFT of one of our live leases was announced elsewhere: that member is out of the room.
        const ours = envelope.body.$case === 'presence' && envelope.lease !== undefined ? this.leases.withId(envelope.lease) : undefined;
        if (ours && envelope.body.$case === 'presence' && envelope.body.presence.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT) this.leaseLost(ours);
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

