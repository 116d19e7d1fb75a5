/**
 * `consul://<agent host:port>/<service>?tag=<tag>&dc=<datacenter>`: a grpc-js name resolver
 * over Consul's health API, `GET /v1/health/service/<service>?passing=true`, as a blocking
 * query (Consul docs, "Blocking Queries"):
 *
 * - each request sends the last `X-Consul-Index` as `index` with `wait`; Consul holds it until
 *   the result changes or `wait` (+ up to wait/16 jitter) passes;
 * - an index that goes backwards (Consul restarted, snapshot restore) resets to 0, a full read;
 *   an index below 1 is treated as 1, so a buggy 0 cannot make the loop spin;
 * - requests are at least `minIntervalMs` apart; errors back off exponentially with jitter;
 * - `Service.Address` is used, falling back to `Node.Address` when empty (Consul's rule);
 * - endpoints are sorted and an unchanged list is not reported again.
 */
import { experimental, status } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';
import { consulBaseUrl, consulHeaders, type ConsulHealthEntry } from './consul.js';
import { Backoff, ENDPOINT_METADATA_ATTRIBUTE, toResolution, type DiscoveredInstance } from './endpoints.js';

/** The URI scheme. */
export const CONSUL_SCHEME = 'consul';

/** Options of {@link registerConsulResolver}. */
export interface ConsulResolverOptions {
  /** Agent address when the target has no authority (`consul:///auth`); default `CONSUL_HTTP_ADDR`, else 127.0.0.1:8500. */
  address?: string;
  /** ACL token; default `CONSUL_HTTP_TOKEN`. */
  token?: string;
  /** Blocking query `wait`, s (default 300, Consul's maximum is 600). */
  waitSeconds?: number;
  /** Minimum time between two requests, ms (default 100): a rate limit for a fast-changing index. */
  minIntervalMs?: number;
  /** Backoff after a failed request: first delay and cap, ms (defaults 1000 and 30 000; x1.6, +-20 % jitter). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** What a `consul:` target names. */
export interface ConsulTarget {
  /** Agent base URL, `http://127.0.0.1:8500`. */
  baseUrl: string;
  service: string;
  /** `tag=` (repeatable): only instances with every one of these tags. */
  tags: string[];
  /** `dc=`: datacenter; default the agent's own. */
  dc?: string;
}

let defaults: ConsulResolverOptions = {};

const trace = (text: string) => experimental.trace(0 /* LogVerbosity.DEBUG */, 'consul_resolver', text);

/** Parses a `consul:` target. @throws Error when it names no service. */
export function parseConsulTarget(target: experimental.GrpcUri, fallbackAddress?: string): ConsulTarget {
  const query = new URL(`http://x/${target.path.replace(/^\/+/, '')}`);
  const service = decodeURIComponent(query.pathname.replace(/^\/+|\/+$/g, ''));
  if (!service) throw new Error(`consul resolver: "${experimental.uriToString(target)}" names no service; use consul://host:8500/<service>`);
  const dc = query.searchParams.get('dc') || undefined;
  return {
    baseUrl: consulBaseUrl(target.authority || fallbackAddress || process.env['CONSUL_HTTP_ADDR']),
    service,
    tags: query.searchParams.getAll('tag').filter((t) => t !== ''),
    ...(dc ? { dc } : {}),
  };
}

/** Instances of a health API response: Service.Address, else Node.Address; Meta plus `tags`. */
export function instancesFromHealth(entries: ConsulHealthEntry[]): DiscoveredInstance[] {
  const out: DiscoveredInstance[] = [];
  for (const entry of entries) {
    const host = entry.Service?.Address || entry.Node?.Address;
    const port = entry.Service?.Port;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const metadata: Record<string, string> = { ...(entry.Service.Meta ?? {}) };
    if (entry.Service.Tags?.length) metadata['tags'] = entry.Service.Tags.join(',');
    out.push({ host, port, metadata });
  }
  return out;
}

/**
 * The next blocking-query index from the previous one and the response's `X-Consul-Index`
 * (Consul docs, "Blocking Queries", implementation details).
 */
export function nextConsulIndex(previous: number, header: string | null): number {
  const index = Number(header);
  if (!Number.isFinite(index) || header === null || header === '') return 0;
  if (index < previous) return 0; // went backwards: start over with a full read
  return Math.max(1, index);
}

/** The resolver class grpc-js instantiates for each channel whose target is `consul://...`. */
export class ConsulResolver implements experimental.Resolver {
  private readonly consul: ConsulTarget;
  private readonly options: ConsulResolverOptions;
  private readonly backoff: Backoff;
  private generation = 0;
  private running = false;
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastReportedKey: string | undefined;

  constructor(
    private readonly target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    _channelOptions: ChannelOptions,
  ) {
    this.options = defaults;
    this.consul = parseConsulTarget(target, defaults.address);
    this.backoff = new Backoff(defaults.backoffInitialMs ?? 1_000, defaults.backoffMaxMs ?? 30_000);
  }

  /** The `:authority` of calls: the service name. */
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return parseConsulTarget(target).service;
  }

  updateResolution(): void {
    // The blocking query follows every change by itself; only a stopped resolver starts again.
    if (!this.running) {
      this.running = true;
      const generation = ++this.generation;
      void this.loop(generation);
    }
  }

  destroy(): void {
    this.generation += 1;
    this.running = false;
    this.abort?.abort();
    this.abort = undefined;
    clearTimeout(this.timer);
    this.lastReportedKey = undefined;
  }

  /** The URL of one blocking query. */
  url(index: number): string {
    const params = new URLSearchParams({ passing: 'true' });
    for (const tag of this.consul.tags) params.append('tag', tag);
    if (this.consul.dc) params.set('dc', this.consul.dc);
    if (index > 0) {
      params.set('index', String(index));
      params.set('wait', `${this.options.waitSeconds ?? 300}s`);
    }
    return `${this.consul.baseUrl}/v1/health/service/${encodeURIComponent(this.consul.service)}?${params}`;
  }

  private async loop(generation: number): Promise<void> {
    let index = 0;
    const waitMs = (this.options.waitSeconds ?? 300) * 1000;
    while (generation === this.generation) {
      const started = Date.now();
      const abort = new AbortController();
      this.abort = abort;
      // Consul may hold a request up to wait + wait/16; past that (plus slack) it is lost.
      const timeout = setTimeout(() => abort.abort(new Error('blocking query timed out')), waitMs + waitMs / 16 + 5_000);
      try {
        const response = await fetch(this.url(index), { headers: consulHeaders(this.options.token ?? process.env['CONSUL_HTTP_TOKEN']), signal: abort.signal });
        if (!response.ok) throw new Error(`GET /v1/health/service/${this.consul.service}: HTTP ${response.status} ${(await response.text()).slice(0, 200).trim()}`);
        const entries = (await response.json()) as ConsulHealthEntry[];
        if (generation !== this.generation) return;
        const next = nextConsulIndex(index, response.headers.get('X-Consul-Index'));
        if (next === 0 && index > 0) trace(`${this.consul.service}: X-Consul-Index went backwards (${index} -> ${response.headers.get('X-Consul-Index')}); full read`);
        index = next;
        this.backoff.reset();
        this.report(instancesFromHealth(Array.isArray(entries) ? entries : []));
        await this.sleep(generation, Math.max(0, (this.options.minIntervalMs ?? 100) - (Date.now() - started)));
      } catch (error) {
        if (generation !== this.generation) return;
        const message = error instanceof Error ? error.message : String(error);
        trace(`${this.consul.service}: ${message}`);
        this.listener(
          experimental.statusOrFromError({ code: status.UNAVAILABLE, details: `consul resolver for ${experimental.uriToString(this.target)}: ${message}` }),
          {},
          null,
          `consul ${this.consul.baseUrl} unreachable`,
        );
        index = 0;
        await this.sleep(generation, this.backoff.nextDelayMs());
      } finally {
        clearTimeout(timeout);
      }
    }
  }

  private report(instances: DiscoveredInstance[]): void {
    const resolution = toResolution(instances);
    if (resolution.key === this.lastReportedKey) return;
    this.lastReportedKey = resolution.key;
    trace(`${this.consul.service} -> ${resolution.endpoints.map(experimental.endpointToString).join(', ') || '(none)'}`);
    this.listener(experimental.statusOrFromValue(resolution.endpoints), { [ENDPOINT_METADATA_ATTRIBUTE]: resolution.metadata }, null, `consul ${this.consul.service}`);
  }

  private sleep(generation: number, ms: number): Promise<void> {
    if (ms <= 0 || generation !== this.generation) return Promise.resolve();
    return new Promise((resolve) => {
      this.timer = setTimeout(resolve, ms);
    });
  }
}

/**
 * Registers the `consul:` scheme with grpc-js (process-wide; calling again replaces the
 * defaults). Afterwards `consul://127.0.0.1:8500/orders` works as any channel's target.
 */
export function registerConsulResolver(options: ConsulResolverOptions = {}): void {
  defaults = { ...options };
  experimental.registerResolver(CONSUL_SCHEME, ConsulResolver);
}
