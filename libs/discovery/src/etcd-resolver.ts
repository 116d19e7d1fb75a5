/**
 * `etcd:///<service>`: a grpc-js name resolver over etcd, in the layout of etcd's gRPC naming
 * (go.etcd.io/etcd/client/v3/naming, which grpc-go's etcd resolver reads), so Go and Node
 * services can share one registry:
 *
 *   key   `<service>/<instance-id>`          e.g. `orders/10.0.0.7:50055`
 *   value `{"Op":0,"Addr":"host:port","Metadata":"version=v1"}`   (`Op` 0 = Add, 1 = Delete; may be absent)
 *
 * `Metadata` is a string in `application/x-www-form-urlencoded` form: grpc-go copies it into
 * `resolver.Address.Metadata` and hashes it (a JSON object there panics grpc-go,
 * etcd-io/etcd#19700; docs/discovery.md). The object form `{"version":"v1"}` of older
 * registrars is still read, for a rolling upgrade.
 *
 * Resolution: one Get of the prefix `<service>/`, then a Watch from the Get's revision + 1, so
 * no change between the two is lost and none is seen twice. Every change is reported as the
 * whole, sorted endpoint list (unchanged lists are not reported again).
 */
import { experimental, status } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { Backoff, ENDPOINT_METADATA_ATTRIBUTE, parseHostPort, stringRecord, toResolution, type DiscoveredInstance } from './endpoints.js';
import { acquireEtcdClient, parseEtcdEndpoints, releaseEtcdClient } from './etcd-client.js';

/** The URI scheme. */
export const ETCD_SCHEME = 'etcd';

/** Channel option naming the etcd endpoints of one channel (comma-separated URLs); overrides the defaults. */
export const ETCD_ENDPOINTS_CHANNEL_OPTION = 'grpc-patterns.etcd_endpoints';

/** Options of {@link registerEtcdResolver}. */
export interface EtcdResolverOptions {
  /** etcd client URLs; default `ETCD_ENDPOINTS` from the environment, else http://127.0.0.1:2379. */
  endpoints?: string[];
}

/** One registry entry, as etcd's naming package writes it (`endpoints.Update` / `Endpoint` in JSON). */
export interface EtcdNamingValue {
  /** 0 = Add (also when absent), 1 = Delete. */
  Op?: number;
  /** `host:port` the instance serves gRPC on. */
  Addr: string;
  /**
   * This library writes `key=value&...` (form-urlencoded, keys sorted; `version` drives canary
   * routing) and reads that, or an object of strings (the layout before the grpc-go fix).
   */
  Metadata?: unknown;
}

/**
 * Encodes instance metadata as the `Metadata` string: `version=v1&zone=eu-1` (form-urlencoded,
 * keys sorted, so the same metadata is always the same bytes). grpc-go reads it as an opaque,
 * comparable string; Go code decodes it with `url.ParseQuery`.
 */
export function encodeEtcdMetadata(metadata: Record<string, string>): string {
  return new URLSearchParams(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))).toString();
}

/**
 * Decodes `Metadata`: a form-urlencoded string (pairs without `=` are dropped, so a free-form
 * string such as "opaque" yields {}), or an object with string fields (the old layout); else {}.
 */
export function decodeEtcdMetadata(value: unknown): Record<string, string> {
  if (typeof value !== 'string') return stringRecord(value);
  const out: Record<string, string> = {};
  for (const pair of value.split('&')) {
    if (!pair.includes('=')) continue;
    for (const [k, v] of new URLSearchParams(pair)) if (k) out[k] = v;
  }
  return out;
}

let defaults: EtcdResolverOptions = {};

const trace = (text: string) => experimental.trace(0 /* LogVerbosity.DEBUG */, 'etcd_resolver', text);

/**
 * Parses a registry value. Returns undefined for a Delete op or a malformed value (the entry
 * is then left out: one bad key must not hide the good ones).
 */
export function parseEtcdNamingValue(raw: string): DiscoveredInstance | undefined {
  let value: EtcdNamingValue;
  try {
    value = JSON.parse(raw) as EtcdNamingValue;
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || typeof value.Addr !== 'string' || (value.Op ?? 0) !== 0) return undefined;
  const address = parseHostPort(value.Addr);
  return address && { ...address, metadata: decodeEtcdMetadata(value.Metadata) };
}

/**
 * The resolver class grpc-js instantiates for each channel whose target is `etcd:///<service>`
 * (or `etcd://<host:port,...>/<service>` to name the etcd endpoints in the target itself).
 */
export class EtcdResolver implements experimental.Resolver {
  private readonly prefix: string;
  private readonly endpoints: string[];
  private client: Etcd3 | undefined;
  private watcher: Watcher | undefined;
  private readonly instances = new Map<string, DiscoveredInstance>();
  /** Bumped by destroy() and restarts: callbacks of an older generation do nothing. */
  private generation = 0;
  private running = false;
  private reportPending = false;
  private lastReportedKey: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff();

  constructor(
    private readonly target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    channelOptions: ChannelOptions,
  ) {
    this.prefix = `${serviceOf(target)}/`;
    const fromChannel = channelOptions[ETCD_ENDPOINTS_CHANNEL_OPTION] as string | undefined;
    this.endpoints = target.authority
      ? parseEtcdEndpoints(target.authority)
      : fromChannel
        ? parseEtcdEndpoints(fromChannel)
        : (defaults.endpoints ?? parseEtcdEndpoints(process.env['ETCD_ENDPOINTS']));
  }

  /** The `:authority` of calls: the service name. */
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return serviceOf(target);
  }

  updateResolution(): void {
    // Get + Watch keeps the list current by itself; only a stopped resolver starts again.
    if (!this.running) void this.start();
  }

  destroy(): void {
    this.generation += 1;
    this.running = false;
    this.stopSession();
    this.lastReportedKey = undefined;
  }

  private stopSession(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    const client = this.client;
    this.client = undefined;
    void (async () => {
      if (watcher) await watcher.cancel().catch(() => undefined);
      if (client) releaseEtcdClient(client);
    })();
  }

  private async start(): Promise<void> {
    const generation = ++this.generation;
    this.running = true;
    const client = acquireEtcdClient(this.endpoints);
    this.client = client;
    try {
      const response = await client.getAll().prefix(this.prefix).exec();
      if (generation !== this.generation) return;
      this.instances.clear();
      for (const kv of response.kvs) this.apply(kv);
      this.scheduleReport();
      const watcher = await client
        .watch()
        .prefix(this.prefix)
        .startRevision((BigInt(response.header.revision) + 1n).toString())
        .create();
      if (generation !== this.generation) {
        void watcher.cancel().catch(() => undefined);
        return;
      }
      this.watcher = watcher;
      watcher.on('put', (kv) => {
        if (generation !== this.generation) return;
        this.apply(kv);
        this.scheduleReport();
      });
      watcher.on('delete', (kv) => {
        if (generation !== this.generation) return;
        this.instances.delete(kv.key.toString());
        this.scheduleReport();
      });
      // etcd3 reconnects a watch by itself and resumes at the last revision; an 'error' is
      // final (e.g. the revision was compacted): start over with a fresh Get.
      watcher.on('error', (error) => {
        if (generation !== this.generation) return;
        trace(`watch ${this.prefix} failed: ${error.message}; resolving again`);
        this.retry(generation, error);
      });
      this.backoff.reset();
    } catch (error) {
      if (generation !== this.generation) return;
      this.retry(generation, error as Error);
    }
  }

  /** Reports the failure (the channel keeps a previous good list) and starts again after a backoff. */
  private retry(generation: number, error: Error): void {
    this.stopSession();
    const delay = this.backoff.nextDelayMs();
    trace(`${this.prefix}: ${error.message}; retrying in ${delay} ms`);
    setImmediate(() => {
      if (generation !== this.generation) return;
      this.listener(
        experimental.statusOrFromError({ code: status.UNAVAILABLE, details: `etcd resolver for ${experimental.uriToString(this.target)}: ${error.message}` }),
        {},
        null,
        `etcd ${this.endpoints.join(',')} unreachable`,
      );
    });
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation) void this.start();
    }, delay);
    this.retryTimer.unref?.();
  }

  private apply(kv: IKeyValue): void {
    const key = kv.key.toString();
    const instance = parseEtcdNamingValue(kv.value.toString());
    if (instance) this.instances.set(key, instance);
    else {
      this.instances.delete(key);
      trace(`ignoring ${key}: not an Add of {"Addr":"host:port"}`);
    }
  }

  /** Coalesces a burst of watch events into one report, always asynchronously. */
  private scheduleReport(): void {
    if (this.reportPending) return;
    this.reportPending = true;
    const generation = this.generation;
    setImmediate(() => {
      this.reportPending = false;
      if (generation !== this.generation) return;
      const resolution = toResolution([...this.instances.values()]);
      if (resolution.key === this.lastReportedKey) return;
      this.lastReportedKey = resolution.key;
      trace(`${this.prefix} -> ${resolution.endpoints.map(experimental.endpointToString).join(', ') || '(none)'}`);
      this.listener(experimental.statusOrFromValue(resolution.endpoints), { [ENDPOINT_METADATA_ATTRIBUTE]: resolution.metadata }, null, `etcd ${this.prefix}`);
    });
  }
}

function serviceOf(target: experimental.GrpcUri): string {
  const service = target.path.replace(/^\/+|\/+$/g, '');
  if (!service) throw new Error(`etcd resolver: "${experimental.uriToString(target)}" names no service; use etcd:///<service>`);
  return service;
}

/**
 * Registers the `etcd:` scheme with grpc-js (process-wide; calling again replaces the defaults).
 * Afterwards `new grpc.Channel('etcd:///orders', ...)` (or any generated client) resolves
 * through etcd.
 */
export function registerEtcdResolver(options: EtcdResolverOptions = {}): void {
  defaults = { ...options };
  experimental.registerResolver(ETCD_SCHEME, EtcdResolver);
}
