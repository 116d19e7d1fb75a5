/**
 * The in-process test harness (this repo's bufconn): a real grpc-js server on 127.0.0.1 with a
 * free port, and real generated clients on a real HTTP/2 connection to it. Nothing is mocked,
 * so a test sees exactly the codes, metadata and flow control a remote client would.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, startServer, type ClientConstructor, type CreateClientOptions, type RunningServer, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { createLogger, type Logger } from '@grpc-patterns/observability';
import { Writable } from 'node:stream';

/** A started test server; `close()` it in afterAll/afterEach. */
export interface TestServer {
  running: RunningServer;
  /** `ipv4:127.0.0.1:<port>` */
  target: string;
  /** The JSON log lines the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  logger: Logger;
  /** A client of the given generated class on its own channel (closed by close()). */
  client<C extends grpc.Client>(Client: ClientConstructor<C>, options?: CreateClientOptions): C;
  close(): Promise<void>;
}

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  services: ServiceRegistration[];
  interceptors?: grpc.ServerInterceptor[];
  serverOptions?: grpc.ServerOptions;
  shutdownGraceMs?: number;
  afterStop?: Array<() => Promise<void>>;
  /** Log level of the captured logger; default "info". */
  logLevel?: string;
}

/** Starts the services on 127.0.0.1:0 with a logger whose lines are captured in `logs`. */
export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ service: 'test', level: options.logLevel ?? 'info', destination });
  const running = await startServer({
    services: options.services,
    interceptors: options.interceptors,
    serverOptions: options.serverOptions,
    host: '127.0.0.1',
    port: 0,
    logger,
    shutdownGraceMs: options.shutdownGraceMs ?? 2_000,
    handleSignals: false,
    afterStop: options.afterStop,
  });
  const target = `ipv4:${running.address}`;
  const clients: grpc.Client[] = [];
  return {
    running,
    target,
    logs,
    logger,
    client(Client, clientOptions) {
      // A unique channel option keeps each test's channel its own (no cross-test sharing).
      const c = createClient(Client, target, {
        ...clientOptions,
        channelOptions: { 'grpc-patterns.test-channel': clients.length + 1, ...clientOptions?.channelOptions },
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await running.shutdown('test finished');
    },
  };
}

/** Reads a server stream to its end; rejects with the stream's error status. */
export function collect<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => items.push(item));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
}

/** Resolves with the error status a call ends with; rejects if it ends OK. */
export async function expectStatus(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export { grpc };
export * from './process.js';
export * from './etcd.js';
export * from './logs.js';
export * from './postgres.js';
export * from './suites.js';
