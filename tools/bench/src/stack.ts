/**
 * What the scenarios run against: the real services as built processes (libs/testing
 * spawnService, with their real interceptor chain, logging at info and OTLP tracing into a sink
 * in this process), the bare grpc-js baseline process, and the bench users with their tokens.
 * Servers are pinned to one core, this process (the load) to the other.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { freePort, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BareCommand, BareReply } from './bare-server.js';
import { pin } from './measure.js';

/** Core the servers run on, and core the load (this process, h2load) runs on. */
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/** A bench user: id, username and a Bearer access token. */
export interface BenchUser {
  id: string;
  username: string;
  token: string;
}

/** Metadata carrying a user's access token. */
export function bearer(user: BenchUser): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${user.token}`);
  return metadata;
}

/** A real service process started by {@link Stack.service}, with its /metrics address. */
export interface RunningService {
  process: ServiceProcess;
  metricsUrl: string;
  pid: number;
}

/** The OTLP/HTTP trace sink: counts POST /v1/traces requests and bytes. */
export interface TraceSink {
  endpoint: string;
  requests: number;
  bytes: number;
}

/** The bare baseline process. */
export interface BareServer {
  target: string;
  pid: number;
  command(command: BareCommand): Promise<BareReply>;
}

/** Options of {@link Stack.start}. */
export interface StackOptions {
  /** Pin servers and load to separate cores with taskset. */
  pinning: boolean;
  /** Rate limits in Redis (REDIS_URL for every service); unset: in memory, the default. */
  redisUrl?: string;
  /** Log what happens. */
  log: (line: string) => void;
  /** Extra variables for auth (e.g. NODE_OPTIONS=--cpu-prof to see where a call's time goes). */
  authEnv?: Record<string, string>;
}

/**
 * The rate limit auth runs with in the bench: 10^6 calls/s per user and method (the most RATE_LIMIT_RPS takes), no
 * burst, so the limiter consumes on every call and rejects none (docs/benchmarks.md; docs/interceptors.md "Rate limits").
 */
export const BENCH_AUTH_RATE_LIMIT = Object.freeze({ RATE_LIMIT_RPS: '1000000', RATE_LIMIT_BURST: '0' });

/**
 * The processes of one bench run. Create with {@link Stack.start}; {@link Stack.close} stops
 * everything it started and removes the data directories.
 */
export class Stack {
  readonly sink: TraceSink = { endpoint: '', requests: 0, bytes: 0 };
  private sinkServer?: Server;
  private readonly services: RunningService[] = [];
  private bareChild?: ChildProcess;
  /** Data directories and scratch files of this run; removed by close(). */
  readonly scratchDir = mkdtempSync(join(tmpdir(), 'grpc-patterns-bench-'));
  private readonly authDataDir = join(this.scratchDir, 'auth');
  bare!: BareServer;
  auth!: RunningService;

  private constructor(readonly options: StackOptions) {}

  /** Starts the trace sink, the bare baseline and auth (with {@link BENCH_AUTH_RATE_LIMIT}). */
  static async start(options: StackOptions): Promise<Stack> {
    const stack = new Stack(options);
    try {
      await stack.startSink();
      stack.bare = await stack.startBare();
      stack.auth = await stack.service('auth', { DATA_DIR: stack.authDataDir, ...BENCH_AUTH_RATE_LIMIT, ...options.authEnv });
      return stack;
    } catch (error) {
      await stack.close();
      throw error;
    }
  }

  private async startSink(): Promise<void> {
    this.sinkServer = createServer((request, response) => {
      request.on('data', (chunk: Buffer) => (this.sink.bytes += chunk.length));
      request.on('end', () => {
        if (request.method === 'POST' && request.url === '/v1/traces') this.sink.requests++;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    const server = this.sinkServer;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.sink.endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  private startBare(): Promise<BareServer> {
    // The built file, from src (jest) and from dist alike: the bench's test target builds first.
    const child = fork(join(__dirname, '..', 'dist', 'bare-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.bareChild = child;
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`bare server exited with code ${code}`)));
      child.once('message', (reply: BareReply) => {
        if (reply.type !== 'listening') return reject(new Error('bare server: unexpected first message'));
        pin(child.pid ?? 0, SERVER_CORE, this.options.pinning);
        // One request at a time over IPC: replies come in order.
        let queue: Promise<unknown> = Promise.resolve();
        const command = (message: BareCommand) => {
          const result = queue.then(() => new Promise<BareReply>((done) => {
            child.once('message', done);
            child.send(message);
          }));
          queue = result.catch(() => undefined);
          return result;
        };
        resolve({ target: `ipv4:127.0.0.1:${reply.port}`, pid: child.pid ?? 0, command });
      });
    });
  }

  /**
   * Starts `apps/<name>/dist/main.js` the way production runs it: LOG_LEVEL info, traces
   * exported over OTLP/HTTP to the sink, rate limits on, /metrics on a known port; pinned to the
   * server core. `env` adds or overrides variables (DATA_DIR defaults to a fresh directory).
   */
  async service(name: string, env: Record<string, string> = {}): Promise<RunningService> {
    const metricsPort = await freePort();
    const process = await spawnService({
      name,
      readyTimeoutMs: 60_000,
      env: {
        LOG_LEVEL: 'info',
        METRICS_PORT: String(metricsPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: this.sink.endpoint,
        DATA_DIR: mkdtempSync(join(this.scratchDir, `${name}-`)),
        ...(this.auth ? { AUTH_TARGET: this.auth.process.target } : {}),
        ...(this.options.redisUrl ? { REDIS_URL: this.options.redisUrl } : {}),
        ...env,
      },
    });
    const pid = process.child.pid ?? 0;
    pin(pid, SERVER_CORE, this.options.pinning);
    const running = { process, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, pid };
    this.services.push(running);
    return running;
  }

  /**
   * Restarts auth on the same data directory (same signing keys and users: tokens stay valid)
   * with `env` added; services started before keep the old AUTH_TARGET.
   */
  async restartAuth(env: Record<string, string>): Promise<void> {
    await this.stopService(this.auth);
    this.auth = await this.service('auth', { DATA_DIR: this.authDataDir, ...BENCH_AUTH_RATE_LIMIT, ...this.options.authEnv, ...env });
  }

  /** Stops a service started by {@link service} (SIGTERM, graceful). */
  async stopService(service: RunningService): Promise<void> {
    await service.process.stop();
    this.services.splice(this.services.indexOf(service), 1);
  }

  /**
   * Registers and logs in `count` users named `<prefix>_<i>` (fresh each run), in parallel
   * batches. Returns them with their access tokens.
   */
  async users(prefix: string, count: number): Promise<BenchUser[]> {
    const client = createClient(authV1.AuthServiceClient, this.auth.process.target, { defaultDeadlineMs: 60_000 });
    const run = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
    const users: BenchUser[] = [];
    const password = 'bench correct horse battery';
    for (let start = 0; start < count; start += 8) {
      const batch = Array.from({ length: Math.min(8, count - start) }, async (_, j) => {
        const username = `${run}_${start + j}`;
        await unaryCall(client.register.bind(client), authV1.RegisterRequest.fromPartial({ username, password }));
        const login = await unaryCall(client.login.bind(client), authV1.LoginRequest.fromPartial({ username, password }));
        return { id: login.user?.id ?? '', username, token: login.tokens?.accessToken ?? '' };
      });
      users.push(...(await Promise.all(batch)));
    }
    return users;
  }

  /** Stops every process this stack started, the sink, and removes the data directories. */
  async close(): Promise<void> {
    for (const service of [...this.services].reverse()) await service.process.stop().catch(() => undefined);
    this.services.length = 0;
    if (this.bareChild && this.bareChild.exitCode === null) {
      const exited = new Promise((resolve) => this.bareChild?.once('exit', resolve));
      this.bareChild.kill('SIGTERM');
      await exited;
    }
    await new Promise((resolve) => (this.sinkServer ? this.sinkServer.close(resolve) : resolve(undefined)));
    rmSync(this.scratchDir, { recursive: true, force: true });
  }
}
