/**
 * NatsRoomBus: the {@link RoomBus} across replicas, on NATS JetStream (chosen by `NATS_URL`): one
 * subject per room, an expected-last-subject-sequence order point, presence leases in a KV bucket,
 * one ordered consumer per followed room. apps/chat/README.md "Explanation" says how and why.
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import type { JetStreamManager, KV, NatsConnection } from 'nats';
import { assertLeaseTiming } from './config.js';
import { connectNats, watchConnection } from './nats-connection.js';
import { openLeaseBucket, PresenceLeases, type Lease } from './nats-presence-leases.js';
import { sweepRoom } from './nats-presence-sweep.js';
import { RoomConsumers } from './nats-room-consumers.js';
import { RoomPublisher } from './nats-room-publisher.js';
import { leftBody, roomToken } from './nats-room-state.js';
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

/** How long close() lets queued publishes (the LEFTs of a shutdown) finish, ms. */
const CLOSE_FLUSH_MS = 2_000;

/**
 * Connects to NATS, creates (or updates) the stream and the lease bucket, and returns the bus.
 * @throws ConfigError PRESENCE_LEASE_TTL_MS when the bucket exists with another TTL, PRESENCE_HEARTBEAT_MS over
 *   half the TTL; anything else when NATS is unreachable or JetStream is off (main.ts: start-up fails).
 */
export async function connectNatsRoomBus(options: NatsRoomBusOptions): Promise<NatsRoomBus> {
  assertLeaseTiming(options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  const nc = await connectNats(options.servers);
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
  private readonly onEvent: (event: string, detail?: unknown) => void;
  /** The rooms' order point (nats-room-publisher.ts). */
  private readonly publisher: RoomPublisher;
  /** The rooms this replica follows (nats-room-consumers.ts). */
  private readonly consumers: RoomConsumers;
  /** This replica's leases (nats-presence-leases.ts). */
  private readonly leases: PresenceLeases;
  private readonly heartbeat: NodeJS.Timeout;
  private sweeping = false;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    jsm: JetStreamManager,
    kv: KV,
    private readonly options: NatsRoomBusOptions,
  ) {
    const js = nc.jetstream();
    const stream = options.stream ?? 'CHAT_ROOMS';
    this.leases = new PresenceLeases(kv, (lease) => this.leaseLost(lease));
    this.onEvent = options.onEvent ?? (() => undefined);
    this.publisher = new RoomPublisher({
      js, jsm, stream,
      prefix: options.subjectPrefix ?? 'chat.room',
      maxRoomMembers: options.maxRoomMembers,
      clock: options.clock ?? (() => new Date()),
      leases: this.leases,
      onEvent: this.onEvent,
      consumerReady: (room) => this.consumers.ready(room),
      follows: (room) => this.consumers.has(room),
      closed: () => this.closed,
    });
    this.consumers = new RoomConsumers({
      js, stream,
      subject: (room) => this.publisher.subject(room),
      onHandlerError: options.onHandlerError ?? ((error, room) => console.error(`room ${room}: event handler failed:`, error)),
      delivered: (room, snapshot) => this.publisher.remember(room, snapshot),
      stopped: (room) => this.publisher.forget(room),
      started: (room) => void this.sweepQuietly(room), // members a dead replica left behind while nobody here followed the room
      left: (id) => {
        // A LEFT of one of our live leases was announced elsewhere: that member is out of the room.
        const ours = this.leases.withId(id);
        if (ours) this.leaseLost(ours);
      },
    });
    this.heartbeat = setInterval(() => this.tick(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeat.unref();
    void watchConnection(nc, this.onEvent, () => {
      this.publisher.forgetAll();
      this.consumers.failAll(() => new GrpcError(status.UNAVAILABLE, 'chat bus: NATS connection lost'));
    });
  }

  /** Creates the stream, or updates its limits when it exists. */
  ensureStream(): Promise<void> {
    return this.publisher.ensureStream(this.options.maxEventsPerRoom ?? 1000);
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
        return this.publisher.enqueue(room, async () => {
          if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
          const lease = await this.leases.create(room, user, member);
          try {
            const event = await this.publisher.publishNow(room, body, { kind: 'joined', lease: lease.id });
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
    return this.publisher.enqueue(room, async () => {
      const event = await this.publisher.publishNow(room, body, { kind: 'event' });
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
      await this.publisher.enqueue(room, () => this.publisher.publishNow(room, leftBody(user), { kind: 'left', lease: lease.id, expired: lost }));
    } finally {
      // After a failed LEFT too: a deleted lease is announced by the next sweep of any replica.
      this.leases.deleteKey(lease);
    }
  }

  subscribe(room: string, handler: RoomEventHandler, onError?: RoomErrorHandler, member?: string): () => void {
    if (this.closed) throw new GrpcError(status.UNAVAILABLE, 'chat bus closed');
    return this.consumers.subscribe(room, handler, onError, member);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.heartbeat);
    // The LEFTs of the streams a shutdown just ended are queued: let them reach the room.
    await Promise.race([Promise.allSettled(this.publisher.queued()), new Promise((resolve) => setTimeout(resolve, CLOSE_FLUSH_MS).unref())]);
    this.closed = true;
    this.consumers.stopAll();
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** Rooms this replica consumes now (for tests: empty rooms must not linger). */
  roomCount(): number {
    return this.consumers.count();
  }

  /** Leases this replica renews now (for tests: left members must not keep one). */
  leaseCount(): number {
    return this.leases.count();
  }

  /** The room's state as the stream has it now (members after its last event). */
  async roomState(room: string): Promise<{ sequence: number; members: string[] }> {
    const snapshot = await this.publisher.readLast(room);
    return { sequence: snapshot.seq, members: snapshot.members };
  }

  /**
   * Publishes a LEFT for every member of `room` whose lease is gone (README "Presence leases").
   * Runs every heartbeat for each followed room; public for tests and tools.
   *
   * @returns the users this call announced (others may have won the race for some).
   */
  sweep(room: string): Promise<string[]> {
    return sweepRoom(room, this.publisher, this.leases, this.onEvent);
  }

  /** Every heartbeat: renew this replica's leases; sweep the rooms it follows (each at most once at a time). */
  private tick(): void {
    if (this.closed) return;
    this.leases.renewAll();
    if (!this.sweeping) {
      this.sweeping = true;
      void Promise.allSettled(this.consumers.roomNames().map((room) => this.sweepQuietly(room))).finally(() => (this.sweeping = false));
    }
  }

  /** Our member's lease expired under us: end its stream (its session then leaves, conditionally). */
  private leaseLost(lease: Lease): void {
    if (lease.state !== 'live') return;
    lease.state = 'lost';
    this.onEvent('lease-lost', { room: lease.room, user: lease.user });
    this.consumers.endMember(lease.room, lease.member, new GrpcError(status.UNAVAILABLE, LEASE_EXPIRED_MESSAGE));
  }

  private async sweepQuietly(room: string): Promise<void> {
    try {
      await this.sweep(room);
    } catch (error) {
      this.onEvent('sweep-failed', { room, error });
    }
  }
}
