/**
 * Shared helpers of the orders specs: the real auth service as a child process, the orders
 * service in process on the same factory main() uses, and small call helpers.
 */
import { closeAllChannels, unaryCallDetailed, type UnaryResult } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc, spawnService, startTestServer, type ServiceProcess, type TestServer } from '@grpc-patterns/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createOrdersService, type OrdersService } from '../src/orders-service.js';

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

/** The built auth app (apps/auth/dist/main.js) running on its own PGlite directory. */
export interface RealAuth {
  process: ServiceProcess;
  target: string;
  /** Registers a user with a unique name and returns its id. */
  registerUser(prefix?: string): Promise<string>;
  stop(): Promise<void>;
}

let userCounter = 0;
export async function startRealAuth(): Promise<RealAuth> {
  const dataDir = await tempDir('auth');
  const auth = await spawnService({ name: 'auth', env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn' } });
  const client = new authV1.AuthServiceClient(auth.target, grpc.credentials.createInsecure());
  return {
    process: auth,
    target: auth.target,
    async registerUser(prefix = 'buyer') {
      const username = `${prefix}_${process.pid}_${++userCounter}`;
      const { response } = await unaryCallDetailed(client.register.bind(client), authV1.RegisterRequest.fromPartial({ username, password: 'correct horse battery', displayName: username }));
      if (!response.user) throw new Error('Register returned no user');
      return response.user.id;
    },
    async stop() {
      client.close();
      await auth.stop();
    },
  };
}

/** The orders service in process, built by createOrdersService() like main() builds it. */
export interface OrdersUnderTest {
  server: TestServer;
  service: OrdersService;
  client: ordersV1.OrderServiceClient;
  dataDir: string;
  /** The service's log lines, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startOrders(options: { authTarget: string; dataDir?: string; now?: () => Date; idempotencyKeyTtlMs?: number }): Promise<OrdersUnderTest> {
  const dataDir = options.dataDir ?? (await tempDir('orders'));
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ service: 'orders', level: 'debug', destination });
  const service = await createOrdersService({ dataDir, authTarget: options.authTarget, logger, now: options.now, idempotencyKeyTtlMs: options.idempotencyKeyTtlMs });
  const server = await startTestServer({ services: [service.registration], afterStop: [service.close] });
  return {
    server,
    service,
    client: server.client(ordersV1.OrderServiceClient),
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
export function placeOrder(client: ordersV1.OrderServiceClient, request: ordersV1.PlaceOrderRequest, options: { deadline?: grpc.Deadline } = {}): Promise<UnaryResult<ordersV1.PlaceOrderResponse>> {
  return unaryCallDetailed(client.placeOrder.bind(client), request, options);
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
