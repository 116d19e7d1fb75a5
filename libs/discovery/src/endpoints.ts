/**
 * What the resolvers of this library hand to grpc-js: sorted endpoint lists, plus each
 * endpoint's discovery metadata (version, tags) as a resolver attribute for the canary policy.
 * An endpoint is one backend with its list of addresses (gRFC A61, the unit round_robin
 * balances over in grpc-js 1.10+); registries here give one address per instance. Target
 * syntax follows grpc/grpc `doc/naming.md`.
 */
import { experimental } from '@grpc/grpc-js';

/** One instance as a registry describes it. */
export interface DiscoveredInstance {
  /** IP address or host name, without brackets for IPv6. */
  host: string;
  /** TCP port, 1..65535. */
  port: number;
  /** String metadata of the instance (etcd `Metadata`, Consul `Service.Meta` + `tags`); `version` drives canary routing. */
  metadata: Record<string, string>;
}

/**
 * Resolver attribute holding `Record<"host:port", metadata>` (keys as grpc-js' `subchannelAddressToString`
 * writes them: `[::1]:50051`); its prefix keeps it out of subchannel arguments, so an update does not
 * reconnect (docs/discovery.md "Registries and their layout").
 */
export const ENDPOINT_METADATA_ATTRIBUTE = `${experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.grpc-patterns.endpoint_metadata`;

/** The map stored under {@link ENDPOINT_METADATA_ATTRIBUTE}. */
export type EndpointMetadataMap = Record<string, Record<string, string>>;

/** `host:port`, with IPv6 hosts in brackets (the same form as grpc-js' subchannelAddressToString). */
export function hostPortString(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Parses `host:port` / `[v6]:port`. Returns undefined when the port is missing or not 1..65535
 * (registries are written by hand too; one bad entry must not hide the good ones).
 */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const hostPort = experimental.splitHostPort(address.trim());
  if (!hostPort || !hostPort.host || hostPort.port === undefined) return undefined;
  if (!Number.isInteger(hostPort.port) || hostPort.port < 1 || hostPort.port > 65535) return undefined;
  return { host: hostPort.host, port: hostPort.port };
}

/** A resolution result: endpoints sorted by address, duplicates removed, and their metadata. */
export interface Resolution {
  endpoints: experimental.Endpoint[];
  metadata: EndpointMetadataMap;
  /** Identity of the result: equal keys mean nothing changed, so nothing is reported. */
  key: string;
}

/**
 * Sorts and deduplicates instances. Sorting makes the same set always produce the same list,
 * so an unchanged registry never looks like a change (no churn in the load balancer).
 */
export function toResolution(instances: DiscoveredInstance[]): Resolution {
  const byAddress = new Map<string, DiscoveredInstance>();
  for (const instance of instances) byAddress.set(hostPortString(instance.host, instance.port), instance);
  const addresses = [...byAddress.keys()].sort();
  const metadata: EndpointMetadataMap = {};
  const endpoints = addresses.map((address) => {
    const instance = byAddress.get(address) as DiscoveredInstance;
    metadata[address] = instance.metadata;
    return { addresses: [{ host: instance.host, port: instance.port }] };
  });
  return { endpoints, metadata, key: JSON.stringify(addresses.map((a) => [a, sortedEntries(metadata[a])])) };
}

function sortedEntries(record: Record<string, string>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Keeps the string-valued fields of a JSON object (etcd `Metadata` may be any JSON value;
 * grpc-go writes strings or nothing). Anything else yields {}.
 */
export function stringRecord(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  }
  return out;
}

/**
 * Exponential backoff with jitter, as gRPC's connection backoff (grpc/grpc
 * `doc/connection-backoff.md`): 1 s initial, x1.6, at most 30 s (defaults), +-20 % jitter.
 */
export class Backoff {
  private next: number;
  constructor(
    private readonly initialMs = 1_000,
    private readonly maxMs = 30_000,
    private readonly multiplier = 1.6,
    private readonly jitter = 0.2,
    private readonly random: () => number = Math.random,
  ) {
    this.next = initialMs;
  }
  /** The next delay, ms, and advances. */
  nextDelayMs(): number {
    const base = this.next;
    this.next = Math.min(this.maxMs, this.next * this.multiplier);
    return Math.max(0, Math.round(base * (1 + this.jitter * (this.random() * 2 - 1))));
  }
  reset(): void {
    this.next = this.initialMs;
  }
}
