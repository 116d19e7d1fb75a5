/**
 * Bidi streaming (chat):
 * - idle streams: open N Chat streams over a few channels, each joins a room of its own and
 *   waits for its JOINED presence event; the server's RSS growth divided by N is the memory one
 *   held stream costs, against the bare grpc-js server holding the same streams;
 * - fan-out: 100 members in one room, one of them sends messages at a steady pace; the time from
 *   Write to each member's receipt (all in this process, one clock) gives p50/p99.
 * Streams are spread over the bench users because the rate limit counts calls (a stream is one
 * call) per user: 100/s plus a burst.
 */
import * as grpc from '@grpc/grpc-js';
import { chatV1 } from '@grpc-patterns/proto';
import { nowMs, quantile, round, rssBytes, sleep, roundOrNull } from './measure.js';
import { maxRatioTarget, ratioOf, type SummaryRow } from './results.js';
import { bearer, type BenchUser, type RunningService, type Stack } from './stack.js';

/** Options of {@link bidiScenario}. */
export interface BidiOptions {
  stack: Stack;
  chat: RunningService;
  users: BenchUser[];
  /** Idle streams to hold. */
  idleStreams: number;
  /**
   * Streams per channel (HTTP/2 connection). grpc-kit servers allow 100 concurrent streams per
   * connection (`grpc.max_concurrent_streams`), so N streams need at least N/100 channels.
   */
  streamsPerChannel: number;
  /** Members of the fan-out room. */
  roomMembers: number;
  /** Messages sent into the room. */
  messages: number;
  /** Pause between two messages, ms. */
  messageIntervalMs: number;
  log: (line: string) => void;
}

/** Streams one user opens per batch, and the shortest time between batches, ms: 5 per 60 ms is 83 calls/s. */
const STREAMS_PER_USER_PER_BATCH = 5;
const BATCH_MS = 60;
/** How long a JoinRoom may wait for its presence event, ms. */
const JOIN_TIMEOUT_MS = 30_000;

/** Channels of their own (a unique channel option each: no sharing with grpc-kit's cache). */
function openChannels(target: string, count: number): chatV1.ChatServiceClient[] {
  return Array.from({ length: count }, (_, i) => new chatV1.ChatServiceClient(target.replace(/^ipv4:/, ''), grpc.credentials.createInsecure(), { 'grpc-patterns.bench-channel': i }));
}

/**
 * Opens a Chat stream with `user`'s token, joins `room` as member `name` (default the username),
 * resolves on the first event (the JOINED presence).
 */
function join(client: chatV1.ChatServiceClient, user: BenchUser, room: string, onEvent?: (event: chatV1.ChatResponse) => void, name = user.username): Promise<grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>> {
  return new Promise((resolve, reject) => {
    const call = client.chat(bearer(user));
    let joined = false;
    // A stream the server never answers (e.g. queued behind a connection's stream limit) fails here, not silently.
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error(`chat: no answer to JoinRoom ${room} within ${JOIN_TIMEOUT_MS} ms`));
    }, JOIN_TIMEOUT_MS);
    call.on('data', (event: chatV1.ChatResponse) => {
      if (!joined) {
        joined = true;
        clearTimeout(timer);
        resolve(call);
      }
      onEvent?.(event);
    });
    call.on('error', (error: grpc.ServiceError) => {
      clearTimeout(timer);
      if (!joined) reject(error);
    });
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user: name } } }));
  });
}

/** Holds `count` idle streams on `target`; returns the RSS growth of `pid` per stream, bytes. */
async function holdIdle(target: string, pid: number, options: BidiOptions, tag: string): Promise<{ bytesPerStream: number; rssBeforeMiB: number; rssAfterMiB: number }> {
  const clients = openChannels(target, Math.ceil(options.idleStreams / options.streamsPerChannel));
  const calls: Array<grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>> = [];
  const before = rssBytes(pid);
  try {
    // Batches of STREAMS_PER_USER_PER_BATCH streams per user, at least BATCH_MS apart: no user
    // passes the rate limit's 100 calls/s.
    const perBatch = options.users.length * STREAMS_PER_USER_PER_BATCH;
    for (let start = 0; start < options.idleStreams; start += perBatch) {
      const batchStarted = nowMs();
      const batch = [];
      for (let i = start; i < Math.min(options.idleStreams, start + perBatch); i++) {
        batch.push(join(clients[i % clients.length], options.users[i % options.users.length], `idle-${tag}-${i}`));
      }
      calls.push(...(await Promise.all(batch)));
      const spent = nowMs() - batchStarted;
      if (spent < BATCH_MS) await sleep(BATCH_MS - spent);
    }
    await sleep(2_000);
    const after = rssBytes(pid);
    return { bytesPerStream: (after - before) / options.idleStreams, rssBeforeMiB: before / 2 ** 20, rssAfterMiB: after / 2 ** 20 };
  } finally {
    for (const call of calls) call.cancel();
    for (const client of clients) client.close();
    await sleep(1_000);
  }
}

/** Runs the fan-out room; returns every delivery's latency, ms. */
async function fanOut(options: BidiOptions): Promise<number[]> {
  const [client] = openChannels(options.chat.process.target, 1);
  // Member names are distinct; the tokens rotate over the bench users (main.ts runs chat with
  // CHAT_IDENTITY=name, so the member name is JoinRoom.user).
  const members = Array.from({ length: options.roomMembers }, (_, i) => ({ user: options.users[i % options.users.length], name: `${options.users[i % options.users.length].username}-m${i}` }));
  const room = `fanout-${process.pid}-${Date.now().toString(36)}`;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const expected = options.messages * members.length;
  let allReceived: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allReceived = resolve));
  const onEvent = (event: chatV1.ChatResponse) => {
    if (event.event?.$case !== 'message') return;
    const sent = sentAt.get(event.event.message.text);
    if (sent === undefined) return;
    latencies.push(nowMs() - sent);
    if (latencies.length === expected) allReceived();
  };
  const calls = [];
  try {
    for (const member of members) calls.push(await join(client, member.user, room, onEvent, member.name));
    await sleep(1_000); // presence events of the later joins settle
    for (let i = 0; i < options.messages; i++) {
      const text = `m${i}`;
      sentAt.set(text, nowMs());
      calls[0].write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } }));
      await sleep(options.messageIntervalMs);
    }
    await Promise.race([done, sleep(30_000)]);
    if (latencies.length !== expected) throw new Error(`fan-out: ${latencies.length} of ${expected} deliveries arrived`);
    return latencies;
  } finally {
    for (const call of calls) call.cancel();
    client.close();
  }
}

/** Runs the scenario; returns the summary rows and the raw numbers. */
export async function bidiScenario(options: BidiOptions): Promise<{ rows: SummaryRow[]; data: Record<string, unknown> }> {
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const channels = Math.ceil(options.idleStreams / options.streamsPerChannel);
  options.log(`  holding ${options.idleStreams} idle chat streams over ${channels} channels`);
  const service = await holdIdle(options.chat.process.target, options.chat.pid, options, tag);
  options.log(`  chat: RSS ${service.rssBeforeMiB.toFixed(1)} -> ${service.rssAfterMiB.toFixed(1)} MiB, ${(service.bytesPerStream / 1024).toFixed(2)} KiB per stream`);
  const bare = await holdIdle(options.stack.bare.target, options.stack.bare.pid, options, `bare-${tag}`);
  options.log(`  bare: RSS ${bare.rssBeforeMiB.toFixed(1)} -> ${bare.rssAfterMiB.toFixed(1)} MiB, ${(bare.bytesPerStream / 1024).toFixed(2)} KiB per stream`);
  options.log(`  fan-out: ${options.roomMembers} members, ${options.messages} messages every ${options.messageIntervalMs} ms`);
  const latencies = await fanOut(options);
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  options.log(`  fan-out: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${latencies.length} deliveries`);
  const kib = (bytes: number) => round(bytes / 1024, 2);
  return {
    rows: [
      { scenario: 'bidi', metric: `RSS per idle stream (${options.idleStreams} held)`, unit: 'KiB', value: kib(service.bytesPerStream), baseline: kib(bare.bytesPerStream), ratio: roundOrNull(ratioOf(service.bytesPerStream, bare.bytesPerStream)), target: maxRatioTarget(ratioOf(service.bytesPerStream, bare.bytesPerStream), 1.5), note: `${channels} channels (at most ${options.streamsPerChannel} streams each); each stream joined a room of its own` },
      { scenario: 'bidi', metric: `fan-out latency p50 (${options.roomMembers}-member room)`, unit: 'ms', value: round(p50, 2) },
      { scenario: 'bidi', metric: `fan-out latency p99 (${options.roomMembers}-member room)`, unit: 'ms', value: round(p99, 2), note: `${options.messages} messages, one every ${options.messageIntervalMs} ms; ${latencies.length} deliveries` },
    ],
    data: { idle: { streams: options.idleStreams, channels, service, bare }, fanOut: { members: options.roomMembers, messages: options.messages, intervalMs: options.messageIntervalMs, latenciesMs: latencies.map((l) => round(l, 3)) } },
  };
}
