/**
 * An in-test Consul agent: a node:http server implementing the endpoints the library uses,
 * as Consul's HTTP API docs specify them (no Consul binary can be installed here):
 *
 * - `GET /v1/health/service/:service` with `passing`, `tag` (repeatable), `dc`, `index`,
 *   `wait`: a blocking query. With `index` at or above the current raft index the request is
 *   held until the index moves or `wait` passes; every response carries `X-Consul-Index`.
 *   The body is the array of {Node, Service, Checks} entries.
 * - `PUT /v1/agent/service/register` (JSON body; `Name` required, `ID` defaults to `Name`).
 *   A `Check.GRPC` check is run as Consul runs it: grpc.health.v1.Health/Check against
 *   `host:port[/service]` every `Interval`; the instance is critical until a check passes.
 * - `PUT /v1/agent/service/deregister/:id` (404 for an unknown id, as Consul answers).
 *
 * Test controls: `setIndex()` (e.g. backwards, as after a snapshot restore), `failNext()`
 * (HTTP 500s), `requests` (every request's method, path and query), `add()` for an entry
 * written directly (e.g. with an empty Service.Address).
 */
import { grpc } from '@grpc-patterns/testing';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConsulHealthEntry, ConsulServiceRegistration } from '../src/consul';

const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

interface Instance {
  entry: ConsulHealthEntry;
  status: 'passing' | 'critical';
  checkTimer?: NodeJS.Timeout;
  checkClient?: grpc.Client;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
  at: number;
}

/** Parses a Go duration as Consul accepts for `wait` ("10s", "5m", "1500ms"). */
function goDurationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!m) throw new Error(`bad duration ${value}`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export class FakeConsul {
  readonly requests: RecordedRequest[] = [];
  private readonly instances = new Map<string, Instance>();
  private index = 10;
  private failures = 0;
  private failPath: string | undefined;
  private waiters: Array<() => void> = [];
  private server: Server | undefined;
  /** Agent address, `127.0.0.1:<port>`. */
  address = '';

  constructor(readonly datacenter = 'dc1') {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const instance of this.instances.values()) this.stopCheck(instance);
    this.bump();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** The current raft index. */
  get currentIndex(): number {
    return this.index;
  }

  /** Sets the raft index (lower than before = "went backwards") and wakes blocked queries. */
  setIndex(index: number): void {
    this.index = index;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next `n` requests (to `path` only, when given) fail with HTTP 500. */
  failNext(n: number, path?: string): void {
    this.failures = n;
    this.failPath = path;
  }

  /** Adds a passing entry directly (as if registered through another agent). */
  add(entry: ConsulHealthEntry): void {
    this.instances.set(entry.Service.ID, { entry, status: 'passing' });
    this.bump();
  }

  /** Service IDs registered, with their check status. */
  status(): Record<string, string> {
    return Object.fromEntries([...this.instances].map(([id, i]) => [id, i.status]));
  }

  /** Health queries recorded, for one service or all. */
  healthQueries(service?: string): RecordedRequest[] {
    return this.requests.filter((r) => (service ? r.path === `/v1/health/service/${service}` : r.path.startsWith('/v1/health/service/')));
  }

  private bump(): void {
    this.index += 1;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://consul');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, at: Date.now() };
    if (text) recorded.body = JSON.parse(text);
    this.requests.push(recorded);
    if (this.failures > 0 && (!this.failPath || url.pathname === this.failPath)) {
      this.failures -= 1;
      return this.send(res, 500, 'rpc error: No cluster leader');
    }
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && (m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname))) return this.health(decodeURIComponent(m[1]), url.searchParams, req, res);
    if (req.method === 'PUT' && url.pathname === '/v1/agent/service/register') return this.register(recorded.body as ConsulServiceRegistration, res);
    if (req.method === 'PUT' && (m = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(url.pathname))) {
      const id = decodeURIComponent(m[1]);
      const instance = this.instances.get(id);
      if (!instance) return this.send(res, 404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      this.stopCheck(instance);
      this.instances.delete(id);
      this.bump();
      return this.send(res, 200, '');
    }
    this.send(res, 405, 'method not allowed');
  }

  private async health(service: string, query: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const dc = query.get('dc');
    if (dc && dc !== this.datacenter) return this.send(res, 500, `No path to datacenter`);
    const index = Number(query.get('index') ?? '0');
    if (index > 0 && index >= this.index) {
      const waitMs = Math.min(goDurationMs(query.get('wait') ?? '5m'), 600_000);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.push(done);
        req.socket.once('close', done);
      });
    }
    const tags = query.getAll('tag');
    const passingOnly = query.has('passing') && query.get('passing') !== 'false';
    const entries = [...this.instances.values()]
      .filter((i) => i.entry.Service.Service === service)
      .filter((i) => !passingOnly || i.status === 'passing')
      .filter((i) => tags.every((t) => i.entry.Service.Tags?.includes(t)))
      .map((i) => ({ ...i.entry, Checks: [{ CheckID: `service:${i.entry.Service.ID}`, Status: i.status }] }));
    res.setHeader('X-Consul-Index', String(this.index));
    res.setHeader('X-Consul-KnownLeader', 'true');
    this.send(res, 200, JSON.stringify(entries), 'application/json');
  }

  private register(body: ConsulServiceRegistration, res: ServerResponse): void {
    if (!body?.Name) return this.send(res, 400, 'Missing service name');
    const id = body.ID || body.Name;
    const old = this.instances.get(id);
    if (old) this.stopCheck(old);
    const instance: Instance = {
      entry: {
        Node: { Node: 'fake-node', Address: '127.0.0.1', Datacenter: this.datacenter },
        Service: { ID: id, Service: body.Name, Address: body.Address ?? '', Port: body.Port, Tags: body.Tags ?? [], Meta: body.Meta ?? {} },
      },
      status: body.Check ? 'critical' : 'passing',
    };
    this.instances.set(id, instance);
    if (body.Check?.GRPC) this.startCheck(instance, body.Check.GRPC, goDurationMs(body.Check.Interval));
    this.bump();
    this.send(res, 200, '');
  }

  /** Consul's gRPC check: `host:port[/service]`, Health/Check, passing only on SERVING. */
  private startCheck(instance: Instance, grpcTarget: string, intervalMs: number): void {
    const slash = grpcTarget.indexOf('/');
    const [hostPort, service] = slash < 0 ? [grpcTarget, ''] : [grpcTarget.slice(0, slash), grpcTarget.slice(slash + 1)];
    const client = new healthPkg.grpc.health.v1.Health(hostPort, grpc.credentials.createInsecure());
    instance.checkClient = client;
    const check = () => {
      (client as unknown as { check: (r: object, o: object, cb: (e: Error | null, r?: { status: string }) => void) => void }).check({ service }, { deadline: Date.now() + 1_000 }, (error, response) => {
        const status = !error && response?.status === 'SERVING' ? 'passing' : 'critical';
        if (status !== instance.status && this.instances.get(instance.entry.Service.ID) === instance) {
          instance.status = status;
          this.bump();
        }
      });
    };
    check();
    instance.checkTimer = setInterval(check, intervalMs);
  }

  private stopCheck(instance: Instance): void {
    clearInterval(instance.checkTimer);
    instance.checkClient?.close();
  }

  private send(res: ServerResponse, code: number, body: string, type = 'text/plain'): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(code, { 'Content-Type': type });
    res.end(body);
  }
}
