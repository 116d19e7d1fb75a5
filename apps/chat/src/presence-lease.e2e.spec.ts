// Presence that survives a SIGKILLed replica, for real: the real auth, three real chat replicas
// (separate processes, NATS_URL passed explicitly) on the machine's NATS JetStream, users on
// each. Replica A is SIGKILLed: it never publishes its members' LEFT. Their presence leases
// (PRESENCE_LEASE_TTL_MS=3000, renewed every 500 ms) expire, the two surviving replicas both
// sweep the room, and exactly one LEFT per lost member reaches everyone, in the room's one order,
// within TTL + heartbeat + margin; the member list no longer shows them and their names are free.
//
// Needs NATS_URL and the built auth and chat apps (npx nx run-many -t build); without them the
// suite is skipped with the reason, except under CI=true, where that fails.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { appMain, grpc, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'nats';
import { ChatStream } from '../test/chat-test-client.js';
import { startRealAuth, type RealAuth } from '../test/real-auth.js';

const NATS_URL = process.env['NATS_URL'] || undefined;
const missing = [
  ...(NATS_URL ? [] : ['NATS_URL is not set (e.g. NATS_URL=nats://127.0.0.1:4222; .ci/run sets it)']),
  ...(['auth', 'chat'].every((app) => existsSync(appMain(app))) ? [] : ['apps/auth or apps/chat is not built (npx nx run-many -t build)']),
];
const suite = missing.length === 0 || process.env['CI'] === 'true' ? describe : describe.skip;
if (missing.length > 0 && process.env['CI'] !== 'true') process.stderr.write(`SKIPPED "chat presence leases across processes": ${missing.join('; ')}\n`);

const { JOINED, LEFT } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED, LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };
const TTL_MS = 3_000;
const HEARTBEAT_MS = 500;
/** Slack for a loaded 2-core machine on top of TTL + one sweep; the measured time is printed. */
const MARGIN_MS = 20_000;
/** Start-up of one process on a loaded machine (auth opens PGlite). */
const READY_TIMEOUT_MS = 90_000;

suite('chat presence leases across processes', () => {
  const run = randomBytes(4).toString('hex');
  const bucket = `CHAT_PRESENCE_E2E_${run}`;
  const room = `lease-${run}`;
  let auth: RealAuth | undefined;
  const replicas: ServiceProcess[] = [];
  const streams: ChatStream[] = [];
  let metadata: grpc.Metadata;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`required under CI=true: ${missing.join('; ')}`);
    auth = await startRealAuth(['lease'], READY_TIMEOUT_MS);
    metadata = auth.users['lease'].metadata;
    const env = {
      NATS_URL: NATS_URL ?? '',
      AUTH_TARGET: auth.process.target,
      PRESENCE_LEASE_TTL_MS: String(TTL_MS),
      PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      PRESENCE_BUCKET: bucket,
      // Leases, not identity: one token joins as several members, which only `name` allows (the
      // default, `token`, makes every stream of one token the same member: identity.e2e.spec.ts).
      CHAT_IDENTITY: 'name',
    };
    replicas.push(...(await Promise.all([1, 2, 3].map(() => spawnService({ name: 'chat', env, healthService: 'chat.v1.ChatService', readyTimeoutMs: READY_TIMEOUT_MS })))));
  }, 4 * READY_TIMEOUT_MS);

  afterAll(async () => {
    for (const stream of streams) stream.call.cancel();
    closeAllChannels();
    await Promise.allSettled(replicas.map((r) => r.stop('SIGKILL')));
    await auth?.stop();
    if (NATS_URL) {
      const nc = await connect({ servers: NATS_URL });
      await (await nc.jetstreamManager()).streams.delete(`KV_${bucket}`).catch(() => undefined);
      await nc.close();
    }
  });

  /** Opens a stream to `replica` as `user` and waits for the user's own JOINED. */
  async function enter(replica: ServiceProcess, user: string): Promise<ChatStream> {
    const client = new chatV1.ChatServiceClient(replica.target, grpc.credentials.createInsecure());
    const stream = new ChatStream(client.chat(metadata));
    streams.push(stream);
    stream.join(room, user);
    await stream.waitForPresence(user, JOINED);
    return stream;
  }

  const presenceOf = (stream: ChatStream, user: string, kind: chatV1.PresenceKind) =>
    stream.summary().filter((line) => line.includes(` ${kind === LEFT ? 'left' : 'joined'} ${user} [`));
  /** Log lines of the surviving replicas saying they announced an expired lease. */
  const announcements = () =>
    replicas
      .slice(1)
      .flatMap((r) => r.output().split('\n'))
      .filter((line) => line.includes('"event":"lease-expired"'))
      .map((line) => (JSON.parse(line) as { detail: { user: string } }).detail.user)
      .sort();

  it('announces the LEFT of a SIGKILLed replica\'s users once, within TTL + heartbeat + margin, and frees their names', async () => {
    const [a, b, c] = replicas;
    await enter(a, 'alice');
    await enter(a, 'amos');
    const bob = await enter(b, 'bob');
    const carol = await enter(c, 'carol');
    await bob.waitForPresence('carol', JOINED);
    expect(carol.summary()).toEqual(['4 joined carol [alice,amos,bob,carol]']);

    const killedAt = Date.now();
    expect(await a.stop('SIGKILL')).toBeNull();
    const limitMs = TTL_MS + HEARTBEAT_MS + MARGIN_MS;
    const waitLeft = (stream: ChatStream, user: string) =>
      stream.waitFor((e) => e.event?.$case === 'presence' && e.event.presence.user === user && e.event.presence.kind === LEFT, `LEFT of ${user}`, limitMs);
    await Promise.all([waitLeft(bob, 'alice'), waitLeft(bob, 'amos'), waitLeft(carol, 'alice'), waitLeft(carol, 'amos')]);
    const detectedMs = Date.now() - killedAt;
    process.stderr.write(`presence leases: LEFT of the SIGKILLed replica's 2 users seen ${detectedMs} ms after the kill (TTL ${TTL_MS} ms, heartbeat ${HEARTBEAT_MS} ms)\n`);
    expect(detectedMs).toBeLessThan(limitMs);

    // Let both survivors sweep a few more times (a second announcement would come now), then
    // mark the point in the room's order: whatever was published before it has been delivered.
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    carol.send('after the sweeps');
    await Promise.all([bob.waitForMessage('after the sweeps'), carol.waitForMessage('after the sweeps')]);
    for (const stream of [bob, carol]) {
      expect([presenceOf(stream, 'alice', LEFT).length, presenceOf(stream, 'amos', LEFT).length]).toEqual([1, 1]);
      const sequences = stream.sequences();
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => sequences[0] + i));
    }
    // One order: both saw the same events from carol's JOINED on; the two LEFTs are 5 and 6 (the
    // leases expire together, so either may come first), with the member list at each.
    expect(bob.summary().slice(1)).toEqual(carol.summary());
    expect([
      ['5 left alice [amos,bob,carol]', '6 left amos [bob,carol]'],
      ['5 left amos [alice,bob,carol]', '6 left alice [bob,carol]'],
    ]).toContainEqual(carol.summary().slice(1, 3));
    // Exactly one of the two sweeping replicas announced each lost member.
    expect(announcements()).toEqual(['alice', 'amos']);

    // The member list no longer shows them, and their names are free again.
    const dora = await enter(b, 'dora');
    expect(dora.summary()).toEqual(['8 joined dora [bob,carol,dora]']);
    const alice = await enter(c, 'alice');
    expect(alice.summary()).toEqual(['9 joined alice [alice,bob,carol,dora]']);

    // A graceful stop (SIGTERM) still says goodbye itself, at once: one LEFT each, no lease expiry.
    expect(await c.stop('SIGTERM')).toBe(0);
    await Promise.all([bob.waitForPresence('carol', LEFT), bob.waitForPresence('alice', LEFT)]);
    bob.send('after the stop');
    await bob.waitForMessage('after the stop');
    const [first, second, last] = bob.summary().slice(-3);
    // Both stopped streams leave in either order: 10 and 11, then bob's message.
    expect([first.split(' ')[2], second.split(' ')[2]].sort()).toEqual(['alice', 'carol']);
    expect([first.split(' ').slice(0, 2).join(' '), second, last]).toEqual(['10 left', expect.stringMatching(/^11 left (alice|carol) \[bob,dora\]$/), '12 msg bob: after the stop']);
    expect(announcements()).toEqual(['alice', 'amos']);
  }, 120_000);
});
