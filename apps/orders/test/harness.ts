/**
 * Shared helpers of the orders specs: the real auth service as a child process, the orders
 * service in process on the same factory main() uses, behind the same server interceptor chain
 * main() runs (tokens verified against auth's keys), and small call helpers.
 */
import { closeAllChannels, unaryCallDetailed, type UnaryResult } from '@grpc-patterns/grpc-kit';
import { clientInterceptorChain, grpcKeySource, serverInterceptorChain } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc, spawnService, startTestServer, type ServiceProcess, type TestServer } from '@grpc-patterns/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createOrdersService, type OrderServiceHooks, type OrdersService } from '../src/orders-service.js';
import { ordersValidation } from '../src/validation.js';

/** A fresh temporary directory; removed by {@link removeTempDirs}. */
const tempDirs: string[] = [];
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `orders-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}
export async function removeTempDirs(): Promise<void> {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A registered, logged-in user of the real auth. */
export interface TestUser {
  id: string;
  username: string;
  /** From auth's Login (`tokens.accessToken`). */
  accessToken: string;
  /** `authorization: Bearer <accessToken>`, fresh each time. */
  metadata(): grpc.Metadata;
}

/** The user auth gives the role "admin" (spawned with ADMIN_USERNAMES set to it). */
export const ADMIN_USERNAME = `admin_${process.pid}`;
const PASSWORD = 'correct horse battery';

/** The built auth app (apps/auth/dist/main.js) running on its own PGlite directory. */
export interface RealAuth {
  process: ServiceProcess;
  target: string;
  /** Registers a user with a unique name and logs it in. */
  registerUser(prefix?: string): Promise<TestUser>;
  /** The admin user ({@link ADMIN_USERNAME}), registered and logged in on first use. */
  admin(): Promise<TestUser>;
  stop(): Promise<void>;
}

let userCounter = 0;
export async function startRealAuth(): Promise<RealAuth> {
  const dataDir = await tempDir('auth');
  // METRICS_PORT 0: several auth processes (one per spec file) must not fight over 9101.
  // readyTimeoutMs: a loaded CI machine may take well over 30 s to start a process.
  const auth = await spawnService({ name: 'auth', env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', METRICS_PORT: '0', ADMIN_USERNAMES: ADMIN_USERNAME }, readyTimeoutMs: 120_000 });
  const client = new authV1.AuthServiceClient(auth.target, grpc.credentials.createInsecure());
  async function registerAndLogin(username: string): Promise<TestUser> {
    await unaryCallDetailed(client.register.bind(client), authV1.RegisterRequest.fromPartial({ username, password: PASSWORD, displayName: username }));
    const { response } = await unaryCallDetailed(client.login.bind(client), authV1.LoginRequest.fromPartial({ username, password: PASSWORD }));
    if (!response.user || !response.tokens) throw new Error('Login returned no user or tokens');
    const accessToken = response.tokens.accessToken;
    return { id: response.user.id, username, accessToken, metadata: () => bearer(accessToken) };
  }
  let admin: Promise<TestUser> | undefined;
  return {
    process: auth,
    target: auth.target,
    registerUser: (prefix = 'buyer') => registerAndLogin(`${prefix}_${process.pid}_${++userCounter}`),
    admin: () => (admin ??= registerAndLogin(ADMIN_USERNAME)),
    async stop() {
      client.close();
      await auth.stop();
    },
  };
}

/** Metadata `authorization: Bearer <token>`. */
export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

/** A client interceptor adding `authorization: Bearer <token>` to every call. */
function withToken(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** The orders service in process, built by createOrdersService() like main() builds it. */
export interface OrdersUnderTest {
  server: TestServer;
  service: OrdersService;
  /** A client that sends no token. */
  client: ordersV1.OrderServiceClient;
  /** A client whose every call carries `user`'s access token (one per user, reused). */
  clientFor(user: TestUser): ordersV1.OrderServiceClient;
  dataDir: string;
  /** The service's log lines, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Options of {@link startOrders}. */
export interface StartOrdersOptions {
  /** Where the service calls auth.GetUser. */
  authTarget: string;
  /** Where the chain fetches token keys (GetPublicKeys); default `authTarget`. */
  keysTarget?: string;
  /** false: no interceptor chain at all (a misconfigured server); default true. */
  chain?: boolean;
  dataDir?: string;
  /** PostgreSQL URL: the store lives there instead of PGlite under `dataDir`. */
  databaseUrl?: string;
  now?: () => Date;
  idempotencyKeyTtlMs?: number;
  inFlightWaitMs?: number;
  pruneIntervalMs?: number;
  hooks?: OrderServiceHooks;
}

export async function startOrders(options: StartOrdersOptions): Promise<OrdersUnderTest> {
  const dataDir = options.dataDir ?? (await tempDir('orders'));
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ service: 'orders', level: 'debug', destination });
  // As main() wires it: one registry, the client chain on the auth client, the server chain
  // with the orders request rules.
  const registry = createMetricsRegistry();
  const service = await createOrdersService({
    dataDir,
    databaseUrl: options.databaseUrl,
    authTarget: options.authTarget,
    logger,
    now: options.now,
    idempotencyKeyTtlMs: options.idempotencyKeyTtlMs,
    inFlightWaitMs: options.inFlightWaitMs,
    pruneIntervalMs: options.pruneIntervalMs,
    hooks: options.hooks,
    clientInterceptors: clientInterceptorChain({ registry }),
  });
  const interceptors =
    options.chain === false
      ? undefined
      : serverInterceptorChain({ logger, registry, keySource: grpcKeySource({ target: options.keysTarget ?? options.authTarget }), validation: ordersValidation() });
  const server = await startTestServer({ services: [service.registration], interceptors, afterStop: [service.close] });
  const clients = new Map<string, ordersV1.OrderServiceClient>();
  return {
    server,
    service,
    client: server.client(ordersV1.OrderServiceClient),
    clientFor(user) {
      let client = clients.get(user.accessToken);
      if (!client) {
        client = server.client(ordersV1.OrderServiceClient, { interceptors: [withToken(user.accessToken)] });
        clients.set(user.accessToken, client);
      }
      return client;
    },
    dataDir,
    logs,
    async close() {
      await server.close();
    },
  };
}

/** Closes the shared auth channels the services made and removes temporary directories. */
export async function cleanUp(): Promise<void> {
  closeAllChannels();
  await removeTempDirs();
}

/** A valid PlaceOrder request for `userId`; `overrides` replace fields. */
export function orderRequest(userId: string, overrides: Partial<ordersV1.PlaceOrderRequest> = {}): ordersV1.PlaceOrderRequest {
  return ordersV1.PlaceOrderRequest.fromPartial({
    requestId: `req-${Math.random().toString(36).slice(2, 12)}`,
    userId,
    items: [
      { sku: 'TEA-GREEN-100G', quantity: 2, unitPriceCents: '1250' },
      { sku: 'MUG-STONEWARE', quantity: 1, unitPriceCents: '1999' },
    ],
    currency: '',
    ...overrides,
  });
}

/** PlaceOrder with response headers. */
export function placeOrder(client: ordersV1.OrderServiceClient, request: ordersV1.PlaceOrderRequest, options: { deadline?: grpc.Deadline; metadata?: grpc.Metadata } = {}): Promise<UnaryResult<ordersV1.PlaceOrderResponse>> {
  return unaryCallDetailed(client.placeOrder.bind(client), request, options);
}

/**
 * A PlaceOrder client that hands back the response message's bytes exactly as they arrived
 * (identity deserializer): what a replay must reproduce byte for byte.
 */
export const RawPlaceOrderClient = grpc.makeGenericClientConstructor(
  { placeOrder: { ...ordersV1.OrderServiceService.placeOrder, responseDeserialize: (bytes: Buffer) => bytes } },
  'orders.v1.OrderService',
);
export type RawPlaceOrderClient = InstanceType<typeof RawPlaceOrderClient> & {
  placeOrder(request: ordersV1.PlaceOrderRequest, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: (error: grpc.ServiceError | null, response?: Buffer) => void): grpc.ClientUnaryCall;
};

/** How a raw PlaceOrder ended: the response bytes or the error, and the response headers either way. */
export interface RawResult {
  bytes?: Buffer;
  error?: grpc.ServiceError;
  headers: grpc.Metadata;
}

/** PlaceOrder through {@link RawPlaceOrderClient} as `user`; never rejects (the error is in the result). */
export function rawPlaceOrder(client: RawPlaceOrderClient, user: TestUser, request: ordersV1.PlaceOrderRequest, options: Partial<grpc.CallOptions> = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.placeOrder(request, user.metadata(), options, (error, bytes) => resolve(error ? { error, headers } : { bytes, headers }));
    call.on('metadata', (metadata) => (headers = metadata));
  });
}

/** The `idempotent-replayed` response header ("true", or undefined when absent). */
export function replayed(result: UnaryResult<unknown>): string | undefined {
  const [value] = result.headers.get('idempotent-replayed');
  return value === undefined ? undefined : String(value);
}

/** The order of a PlaceOrder result (fails the test when the response has none). */
export function orderOf(result: UnaryResult<ordersV1.PlaceOrderResponse> | ordersV1.PlaceOrderResponse): ordersV1.Order {
  const order = 'response' in result ? result.response.order : result.order;
  if (!order) throw new Error('PlaceOrder response has no order');
  return order;
}

/** A promise and the function that resolves it (to hold a call at a point, then let it go). */
export function gate(): { opened: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Resolves once `check` does (polled every 20 ms); rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
