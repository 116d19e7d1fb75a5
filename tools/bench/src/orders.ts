/**
 * Orders: PlaceOrder calls per second (new idempotency keys, `concurrency` calls in flight,
 * spread over the bench users; each one calls auth.GetUser downstream) and the latency of a
 * replay (the same key again: the stored outcome is returned), on one store. The bench runs it
 * on PGlite, and on PostgreSQL when DATABASE_URL is set.
 */
import { createClient, unaryCall } from '@grpc-patterns/grpc-kit';
import { ordersV1 } from '@grpc-patterns/proto';
import { randomUUID } from 'node:crypto';
import { nowMs, quantile, round } from './measure.js';
import { minTarget, type SummaryRow } from './results.js';
import { bearer, type BenchUser, type RunningService } from './stack.js';

/** Options of {@link ordersScenario}. */
export interface OrdersOptions {
  orders: RunningService;
  /** "PGlite" or "PostgreSQL", for the report. */
  store: string;
  users: BenchUser[];
  /** How long to place orders, s. */
  seconds: number;
  /** Calls in flight. */
  concurrency: number;
  /** Replays measured (one at a time). */
  replays: number;
  log: (line: string) => void;
}

function placeOrderRequest(user: BenchUser, requestId: string): ordersV1.PlaceOrderRequest {
  return ordersV1.PlaceOrderRequest.fromPartial({
    requestId,
    userId: user.id,
    currency: 'EUR',
    items: [
      { sku: 'BENCH-TEA', quantity: 2, unitPriceCents: '450' },
      { sku: 'BENCH-MUG', quantity: 1, unitPriceCents: '1200' },
    ],
  });
}

/** Runs the scenario on one orders process; returns the summary rows and the raw numbers. */
export async function ordersScenario(options: OrdersOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const client = createClient(ordersV1.OrderServiceClient, options.orders.process.target, { defaultDeadlineMs: 30_000 });
  const place = (user: BenchUser, requestId: string) => unaryCall(client.placeOrder.bind(client), placeOrderRequest(user, requestId), { metadata: bearer(user) });
  const latencies: number[] = [];
  const placed: Array<{ user: BenchUser; requestId: string; orderId: string }> = [];
  const started = nowMs();
  const until = started + options.seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (nowMs() < until) {
      const user = options.users[next++ % options.users.length];
      const requestId = randomUUID();
      const t0 = nowMs();
      const response = await place(user, requestId);
      latencies.push(nowMs() - t0);
      placed.push({ user, requestId, orderId: response.order?.id ?? '' });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const perSecond = placed.length / ((nowMs() - started) / 1000);

  const replayLatencies: number[] = [];
  for (let i = 0; i < options.replays; i++) {
    const original = placed[i % placed.length];
    const t0 = nowMs();
    const replay = await place(original.user, original.requestId);
    replayLatencies.push(nowMs() - t0);
    if (replay.order?.id !== original.orderId) throw new Error(`orders: replay of ${original.requestId} returned order ${replay.order?.id}, not ${original.orderId}`);
  }
  const store = options.store;
  options.log(`  orders on ${store}: ${perSecond.toFixed(0)} PlaceOrder/s (p50 ${quantile(latencies, 0.5).toFixed(2)} ms), replay p50 ${quantile(replayLatencies, 0.5).toFixed(2)} ms, p99 ${quantile(replayLatencies, 0.99).toFixed(2)} ms`);
  return {
    rows: [
      { scenario: 'orders', metric: `PlaceOrder/s on ${store}`, unit: 'calls/s', value: round(perSecond, 1), target: store === 'PostgreSQL' ? minTarget(perSecond, 400, 'calls/s') : undefined, note: `${options.concurrency} in flight, ${options.users.length} users; each calls auth.GetUser` },
      { scenario: 'orders', metric: `PlaceOrder latency p50 on ${store}`, unit: 'ms', value: round(quantile(latencies, 0.5), 2) },
      { scenario: 'orders', metric: `PlaceOrder latency p99 on ${store}`, unit: 'ms', value: round(quantile(latencies, 0.99), 2) },
      { scenario: 'orders', metric: `replay latency p50 on ${store}`, unit: 'ms', value: round(quantile(replayLatencies, 0.5), 2), note: `${options.replays} replays, one at a time` },
      { scenario: 'orders', metric: `replay latency p99 on ${store}`, unit: 'ms', value: round(quantile(replayLatencies, 0.99), 2) },
    ],
    data: { store, placed: placed.length, perSecond, latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) }, replayLatenciesMs: replayLatencies.map((l) => round(l, 3)), concurrency: options.concurrency, seconds: options.seconds },
  };
}

/** Rows saying why orders on PostgreSQL were not measured. */
export function ordersNotMeasured(store: string, reason: string): SummaryRow[] {
  return [{ scenario: 'orders', metric: `PlaceOrder/s on ${store}`, unit: 'calls/s', value: null, note: `not measured: ${reason}` }];
}
