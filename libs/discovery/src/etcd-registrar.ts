/**
 * Registers an instance in etcd in the layout the etcd resolver (and grpc-go's) reads, under a
 * lease kept alive by the etcd3 client: a process that dies without deregistering (SIGKILL,
 * OOM, power loss) disappears from the registry when the lease's TTL runs out.
 */
import type { Etcd3, Lease } from 'etcd3';
import { hostPortString } from './endpoints.js';
import { acquireEtcdClient, parseEtcdEndpoints, releaseEtcdClient } from './etcd-client.js';
import { encodeEtcdMetadata, type EtcdNamingValue } from './etcd-resolver.js';
import type { AdvertisedAddress, Registrar } from './registrar.js';

/** Options of {@link EtcdRegistrar}. */
export interface EtcdRegistrarOptions {
  /** Service name: the key prefix and what clients put in `etcd:///<service>` ("orders"). */
  service: string;
  /** etcd client URLs; default `ETCD_ENDPOINTS`, else http://127.0.0.1:2379. */
  endpoints?: string[];
  /** Key suffix; default the advertised `host:port` (unique per instance, as etcd's naming examples use). */
  instanceId?: string;
  /** Written as `Metadata`, form-urlencoded (`version=v1`; `version` drives canary routing). */
  metadata?: Record<string, string>;
  /**
   * Lease TTL, s (default 10; etcd's minimum is about 5 in practice). The client renews it every
   * TTL/3, so a crashed instance is gone within TTL seconds.
   */
  ttlSeconds?: number;
  /** Told when the lease was lost and the instance registered again (log it). */
  onReregister?: (error: Error) => void;
}

/** etcd registrar: `put <service>/<id> {"Op":0,"Addr":"host:port","Metadata":"version=v1"}` with a lease. */
export class EtcdRegistrar implements Registrar {
  private client: Etcd3 | undefined;
  private lease: Lease | undefined;
  private key: string | undefined;
  private value: string | undefined;
  private stopped = false;

  constructor(private readonly options: EtcdRegistrarOptions) {}

  /** The key written, once registered (`orders/127.0.0.1:50055`). */
  get registeredKey(): string | undefined {
    return this.key;
  }

  async register(address: AdvertisedAddress): Promise<void> {
    if (this.lease) return;
    this.stopped = false;
    const addr = hostPortString(address.host, address.port);
    this.key = `${this.options.service}/${this.options.instanceId ?? addr}`;
    const value: EtcdNamingValue = { Op: 0, Addr: addr, Metadata: encodeEtcdMetadata(this.options.metadata ?? {}) };
    this.value = JSON.stringify(value);
    this.client ??= acquireEtcdClient(this.options.endpoints ?? parseEtcdEndpoints(process.env['ETCD_ENDPOINTS']));
    await this.putWithNewLease();
  }

  private async putWithNewLease(): Promise<void> {
    const client = this.client as Etcd3;
    const lease = client.lease(this.options.ttlSeconds ?? 10, { autoKeepAlive: true });
    this.lease = lease;
    // 'lost': etcd says the lease expired (e.g. a long GC pause or a partition longer than the
    // TTL). Register again under a new lease so the instance does not silently vanish.
    lease.on('lost', (error) => {
      if (this.stopped || this.lease !== lease) return;
      this.options.onReregister?.(error);
      this.lease = undefined;
      const again = () => {
        if (this.stopped || this.lease) return;
        this.putWithNewLease().catch(() => setTimeout(again, 1_000).unref());
      };
      again();
    });
    try {
      await lease.put(this.key as string).value(this.value as string);
    } catch (error) {
      this.lease = undefined;
      lease.release();
      throw new Error(`etcd registrar: cannot register ${this.key}: ${(error as Error).message}`);
    }
  }

  async deregister(): Promise<void> {
    this.stopped = true;
    const lease = this.lease;
    this.lease = undefined;
    const client = this.client;
    this.client = undefined;
    try {
      // Revoking the lease deletes every key attached to it, in one request.
      if (lease) await lease.revoke();
    } finally {
      if (client) releaseEtcdClient(client);
    }
  }
}
