/**
 * Presence leases on a JetStream KV bucket: one key `<room token>.<lease id>` per member, renewed
 * every heartbeat, gone after the bucket's TTL when nobody renews it (README "Presence leases").
 */
import { ConfigError } from '@grpc-patterns/config';
import { NatsError, StorageType, type KV, type NatsConnection } from 'nats';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { roomToken, WRONG_LAST_SEQUENCE } from './nats-room-state.js';

/** A lease this replica holds for one of its members. */
export interface Lease {
  id: string;
  room: string;
  user: string;
  member: string;
  /** KV key: `<room token>.<id>`. */
  key: string;
  /** KV revision of the last renewal (the next renewal expects it). */
  revision: number;
  /** live: renewed; ended: the member left (no longer renewed); lost: expired under us. */
  state: 'live' | 'ended' | 'lost';
}

/**
 * Opens (or creates) the lease bucket with `ttlMs` as its max age.
 * @throws ConfigError PRESENCE_LEASE_TTL_MS when the bucket exists with another TTL.
 */
export async function openLeaseBucket(nc: NatsConnection, bucket: string, ttlMs: number): Promise<KV> {
  const kv = await nc.jetstream().views.kv(bucket, { ttl: ttlMs, history: 1, storage: StorageType.File });
  const actual = (await kv.status()).ttl;
  if (actual !== ttlMs) {
    throw new ConfigError(
      'PRESENCE_LEASE_TTL_MS',
      `the NATS KV bucket ${bucket} keeps leases ${actual} ms; every replica must use the same TTL (got "${ttlMs}"; to change it, stop all replicas and delete the bucket)`,
    );
  }
  return kv;
}

/** What a lease key holds: who, and which replica renews it (for operators: `nats kv get`). */
function leaseValue(room: string, user: string): string {
  return JSON.stringify({ room, user, replica: `${hostname()}:${process.pid}` });
}

/** This replica's leases, by membership id and by lease id; `onLost` hears of one that expired under us. */
export class PresenceLeases {
  private readonly byMember = new Map<string, Lease>();
  private readonly byId = new Map<string, Lease>();
  private renewing = false;

  constructor(
    private readonly kv: KV,
    private readonly onLost: (lease: Lease) => void,
  ) {}

  /** The KV key of lease `id` in `room`. */
  key(room: string, id: string): string {
    return `${roomToken(room)}.${id}`;
  }

  /** Creates the key of a new lease (before the member's JOINED is published). */
  async create(room: string, user: string, member: string): Promise<Lease> {
    const id = randomBytes(8).toString('hex');
    const key = this.key(room, id);
    const revision = await this.kv.create(key, leaseValue(room, user));
    const lease: Lease = { id, room, user, member, key, revision, state: 'live' };
    this.byMember.set(member, lease);
    this.byId.set(id, lease);
    return lease;
  }

  /** Stops renewing `lease` (its key stays until {@link deleteKey} or the TTL). */
  drop(lease: Lease): void {
    if (this.byMember.get(lease.member) === lease) this.byMember.delete(lease.member);
    this.byId.delete(lease.id);
  }

  /** Deletes the lease's key, in the background (a failure leaves it to the TTL). */
  deleteKey(lease: Lease): void {
    void this.kv.delete(lease.key).catch(() => undefined);
  }

  ofMember(member: string): Lease | undefined {
    return this.byMember.get(member);
  }

  withId(id: string): Lease | undefined {
    return this.byId.get(id);
  }

  count(): number {
    return this.byMember.size;
  }

  /** Whether the lease's key exists (a KV PUT, not expired, not deleted). */
  async alive(room: string, id: string): Promise<boolean> {
    const entry = await this.kv.get(this.key(room, id));
    return entry !== null && entry.operation === 'PUT';
  }

  /**
   * The room's live keys. Nothing is awaited while listing: nats.js' keys() iterator drops keys
   * that arrive while it waits (queued_iterator.ts); a key missing here is confirmed by the caller.
   */
  async liveKeys(room: string): Promise<Set<string>> {
    const live = new Set<string>();
    for await (const key of await this.kv.keys(`${roomToken(room)}.*`)) live.add(key);
    return live;
  }

  /** Renews every lease, unless the last heartbeat's renewals are still running. */
  renewAll(): void {
    if (this.renewing) return;
    this.renewing = true;
    void Promise.allSettled([...this.byMember.values()].map((lease) => this.renew(lease))).finally(() => (this.renewing = false));
  }

  private async renew(lease: Lease): Promise<void> {
    try {
      const revision = await this.kv.update(lease.key, leaseValue(lease.room, lease.user), lease.revision);
      if (lease.state === 'live') lease.revision = revision;
    } catch (error) {
      // Transport errors: the next heartbeat tries again (a lost connection ends the streams anyway).
      if (lease.state !== 'live' || !(error instanceof NatsError && error.api_error?.err_code === WRONG_LAST_SEQUENCE)) return;
      // The key moved on from our revision: a renewal whose reply was lost, or the key expired.
      const entry = await this.kv.get(lease.key).catch(() => undefined);
      if (entry === undefined || lease.state !== 'live') return;
      if (entry?.operation === 'PUT') lease.revision = entry.revision;
      else this.onLost(lease);
    }
  }
}
