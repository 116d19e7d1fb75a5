/**
 * The clients of the rolling-restart test (rolling-restart.e2e.spec.ts), each recording what it
 * saw so the test can assert on it afterwards:
 *
 * - {@link watchHealth}: a `grpc.health.v1.Health/Watch` stream on one server's own address,
 *   every status with the time it arrived (how fast SIGTERM turns into NOT_SERVING);
 * - {@link OrderLoad}: steady PlaceOrder load, a fresh request id (the idempotency key) per
 *   order and the SAME id again when an attempt fails with UNAVAILABLE or DEADLINE_EXCEEDED;
 * - {@link ReconnectingStream}: one long-lived stream (analytics server streaming, chat bidi)
 *   opened again whenever it ends, each stream's end status and message count kept.
 */
import { unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { ordersV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { randomUUID } from 'node:crypto';

/** One status a health Watch delivered, with its arrival time (ms since the epoch). */
export interface HealthUpdate {
  status: string;
  at: number;
}

/** A running health Watch, see {@link watchHealth}. */
export interface HealthWatch {
  /** Every status received so far, in order (the first is the status when the Watch began). */
  readonly updates: HealthUpdate[];
  /**
   * Resolves with the arrival time of the first update with `status`.
   *
   * @throws Error when the Watch ends or `timeoutMs` passes before that status arrives.
   */
  waitFor(status: string, timeoutMs: number): Promise<number>;
  /** Cancels the Watch and closes its channel. */
  close(): void;
}

type HealthWatchStub = grpc.Client & {
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};
let HealthClient: (new (target: string, credentials: grpc.ChannelCredentials) => HealthWatchStub) | undefined;

/**
 * Opens `grpc.health.v1.Health/Watch` for `service` ("" = the whole server) on its own channel to
 * `target`: the current status at once, then one message per change (grpc/grpc
 * `doc/health-checking.md`; the definition is grpc-health-check's, as the servers').
 */
export function watchHealth(target: string, service: string): HealthWatch {
  const Client = (HealthClient ??= grpc.makeGenericClientConstructor(healthServiceDefinition as unknown as grpc.ServiceDefinition, 'Health') as unknown as NonNullable<typeof HealthClient>);
  const client = new Client(target, grpc.credentials.createInsecure());
  const call = client.watch({ service });
  const updates: HealthUpdate[] = [];
  const waiters = new Set<() => void>();
  let ended: grpc.StatusObject | undefined;
  const notify = () => waiters.forEach((check) => check());
  call.on('data', (message: { status: string }) => {
    updates.push({ status: message.status, at: Date.now() });
    notify();
  });
  call.on('error', () => undefined); // the 'status' event carries the end
  call.on('status', (status: grpc.StatusObject) => {
    ended = status;
    notify();
  });
  return {
    updates,
    waitFor(status, timeoutMs) {
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => settle(() => reject(new Error(`health of ${target} not ${status} within ${timeoutMs} ms (saw ${updates.map((u) => u.status).join(', ') || 'nothing'})`))), timeoutMs);
        const check = () => {
          const found = updates.find((u) => u.status === status);
          const end = ended;
          if (found) settle(() => resolve(found.at));
          else if (end) settle(() => reject(new Error(`health Watch on ${target} ended (${grpc.status[end.code]} ${end.details}) before ${status}`)));
        };
        const settle = (outcome: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          outcome();
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

/** One worker of {@link OrderLoad}: its client (on the shared channel) and its user. */
export interface OrderWorker {
  client: ordersV1.OrderServiceClient;
  userId: string;
  /** Carries `authorization: Bearer <access token>` of that user. */
  metadata: grpc.Metadata;
}

/** Options of {@link OrderLoad}. */
export interface OrderLoadOptions {
  workers: OrderWorker[];
  /** Deadline of one attempt, ms. */
  callDeadlineMs: number;
  /** Attempts per request id (the first included) before the order counts as lost. */
  maxAttempts: number;
  /** A worker starts at most one order this often, ms (a steady rate below the per-user rate limits). */
  paceMs: number;
  /** SKU written on every order, to find them in the database. */
  sku: string;
}

/** Counters of {@link OrderLoad}. */
export interface OrderLoadStats {
  /** Calls the application made (grpc's own transparent retries inside a call not counted). */
  attempts: number;
  /** Attempts that were a second or later try of a request id. */
  appRetries: number;
  /** Request ids that needed more than one attempt. */
  idsRetried: number;
  /** OK responses with `idempotent-replayed: true` (the order already existed). */
  replayed: number;
}

/**
 * Steady unary load: each worker places orders one after another (one per `paceMs` at most) until
 * {@link stop}; UNAVAILABLE or DEADLINE_EXCEEDED is resent after 50 ms with the same request id (PlaceOrder's
 * idempotency key); any other code, or `maxAttempts` failures, loses the order ({@link failures} says why).
 */
export class OrderLoad {
  /** Every request id sent, in the order first sent. */
  readonly requestIds: string[] = [];
  /** Request ids that ended OK. */
  readonly okIds = new Set<string>();
  /** One line per lost order: request id, attempt, status. */
  readonly failures: string[] = [];
  readonly stats: OrderLoadStats = { attempts: 0, appRetries: 0, idsRetried: 0, replayed: 0 };
  private stopping = false;
  private running: Array<Promise<void>> = [];

  constructor(private readonly options: OrderLoadOptions) {}

  start(): void {
    this.running = this.options.workers.map(async (worker) => {
      while (!this.stopping) {
        const next = Date.now() + this.options.paceMs;
        await this.placeOne(worker);
        await sleep(next - Date.now());
      }
    });
  }

  /** Lets every worker finish its current order (retries included), then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private async placeOne(worker: OrderWorker): Promise<void> {
    const requestId = randomUUID();
    this.requestIds.push(requestId);
    const request = ordersV1.PlaceOrderRequest.fromPartial({ requestId, userId: worker.userId, items: [{ sku: this.options.sku, quantity: 1, unitPriceCents: '100' }] });
    for (let attempt = 1; ; attempt++) {
      this.stats.attempts++;
      if (attempt > 1) this.stats.appRetries++;
      try {
        const result = await unaryCallDetailed(worker.client.placeOrder.bind(worker.client), request, { metadata: worker.metadata, deadline: Date.now() + this.options.callDeadlineMs });
        if (result.response.order?.requestId !== requestId) throw new Error(`PlaceOrder ${requestId} answered with the order of ${result.response.order?.requestId}`);
        if (result.headers.get('idempotent-replayed')[0] === 'true') this.stats.replayed++;
        if (attempt > 1) this.stats.idsRetried++;
        this.okIds.add(requestId);
        return;
      } catch (error) {
        const code = (error as grpc.ServiceError).code;
        if ((code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) || attempt >= this.options.maxAttempts) {
          this.failures.push(`${requestId} attempt ${attempt}: ${(error as Error).message}`);
          return;
        }
        await sleep(50);
      }
    }
  }
}

/** One stream of a {@link ReconnectingStream}: when it opened, what it got, how it ended. */
export interface StreamRecord {
  openedAt: number;
  /** Messages that count as data (see {@link ReconnectingStreamOptions.isData}). */
  messages: number;
  /** The server it ran on (`call.getPeer()` at its first message). */
  peer?: string;
  /** Unset while open. `stopped` is true when the test ended it (not an early end). */
  end?: { code: grpc.status; details: string; at: number; stopped: boolean };
}

/** A call a {@link ReconnectingStream} can run: analytics' server stream or chat's bidi stream. */
export type ReadableCall<T> = grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>;

/** Options of {@link ReconnectingStream}. */
export interface ReconnectingStreamOptions<T> {
  /** Opens one stream (and writes its first requests, for bidi). */
  open(): ReadableCall<T>;
  /** Whether a message counts as data for "the new stream received data"; default: every message. */
  isData?(message: T): boolean;
  /** Pause this long after each message, ms: a slow reader, so flow control holds the server back. */
  readDelayMs?: number;
  /** Wait before opening again after an end, ms (default 100). */
  reconnectDelayMs?: number;
}

/**
 * Keeps one stream open: whenever it ends (with any status) a new one is opened, as a client
 * that reconnects does. {@link streams} keeps every stream's record for the assertions.
 */
export class ReconnectingStream<T> {
  readonly streams: StreamRecord[] = [];
  private call: ReadableCall<T> | undefined;
  private stopping = false;
  private closed: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly label: string,
    private readonly options: ReconnectingStreamOptions<T>,
  ) {}

  start(): void {
    this.openOne();
  }

  /** Resolves once the current stream has received a message that counts as data. */
  async waitForData(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.label}: no data within ${timeoutMs} ms; streams: ${JSON.stringify(this.streams)}`));
      }, timeoutMs);
      const check = () => {
        const current = this.streams.at(-1);
        if (current && !current.end && current.messages > 0) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Cancels the open stream (its end is recorded as `stopped`) and opens no other. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.call?.cancel();
    await this.closed;
  }

  private openOne(): void {
    const record: StreamRecord = { openedAt: Date.now(), messages: 0 };
    this.streams.push(record);
    const call = this.options.open();
    this.call = call;
    this.closed = new Promise<void>((resolve) => {
      call.on('status', (status: grpc.StatusObject) => {
        record.end = { code: status.code, details: status.details, at: Date.now(), stopped: this.stopping };
        resolve();
        if (!this.stopping) setTimeout(() => this.stopping || this.openOne(), this.options.reconnectDelayMs ?? 100);
      });
    });
    call.on('error', () => undefined); // the 'status' event carries the end
    call.on('data', (message: T) => {
      if (this.options.isData && !this.options.isData(message)) return;
      record.messages++;
      record.peer ??= call.getPeer();
      this.waiters.forEach((check) => check());
      if (this.options.readDelayMs) {
        call.pause();
        setTimeout(() => call.resume(), this.options.readDelayMs);
      }
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
