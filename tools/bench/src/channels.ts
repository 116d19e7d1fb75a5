/**
 * Channel reuse: the same unary call (GetUser on the bare server, so only the channel differs)
 * made one at a time, on one shared channel (grpc-kit's createClient: one channel per target,
 * reused) and on a new channel per call (connect, HTTP/2 handshake, call, close). Shows why
 * the kit reuses channels.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { nowMs, quantile, round, roundOrNull } from './measure.js';
import { ratioOf, type SummaryRow } from './results.js';
import type { Stack } from './stack.js';

/** Options of {@link channelScenario}. */
export interface ChannelOptions {
  stack: Stack;
  /** Calls per mode. */
  calls: number;
  log: (line: string) => void;
}

async function timeCalls(calls: number, call: () => Promise<unknown>): Promise<{ callsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const latencies: number[] = [];
  const started = nowMs();
  for (let i = 0; i < calls; i++) {
    const t0 = nowMs();
    await call();
    latencies.push(nowMs() - t0);
  }
  return { callsPerSecond: calls / ((nowMs() - started) / 1000), p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

/** Runs the scenario; returns the summary rows and the raw numbers. */
export async function channelScenario(options: ChannelOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const target = options.stack.bare.target;
  const request = authV1.GetUserRequest.fromPartial({ userId: 'bench' });
  const shared = createClient(authV1.AuthServiceClient, target);
  await unaryCall(shared.getUser.bind(shared), request); // connect once before timing
  const reused = await timeCalls(options.calls, () => unaryCall(shared.getUser.bind(shared), request));
  let n = 0;
  const perCall = await timeCalls(options.calls, async () => {
    // A distinct channel option: grpc-js would otherwise share the subchannel (and connection).
    const client = new authV1.AuthServiceClient(target.replace(/^ipv4:/, ''), grpc.credentials.createInsecure(), { 'grpc-patterns.bench-call': n++ });
    try {
      await unaryCall(client.getUser.bind(client), request, { deadline: Date.now() + 10_000 });
    } finally {
      client.close();
    }
  });
  options.log(`  shared channel: ${reused.callsPerSecond.toFixed(0)} calls/s, p50 ${reused.p50Ms.toFixed(2)} ms; channel per call: ${perCall.callsPerSecond.toFixed(0)} calls/s, p50 ${perCall.p50Ms.toFixed(2)} ms`);
  return {
    rows: [
      { scenario: 'channel reuse', metric: 'calls/s, one at a time: channel per call vs shared', unit: 'calls/s', value: round(perCall.callsPerSecond, 0), baseline: round(reused.callsPerSecond, 0), ratio: roundOrNull(ratioOf(perCall.callsPerSecond, reused.callsPerSecond)), note: 'baseline column = one shared channel' },
      { scenario: 'channel reuse', metric: 'latency p50: channel per call vs shared', unit: 'ms', value: round(perCall.p50Ms, 2), baseline: round(reused.p50Ms, 2), ratio: roundOrNull(ratioOf(perCall.p50Ms, reused.p50Ms)) },
    ],
    data: { calls: options.calls, shared: reused, perCall },
  };
}
