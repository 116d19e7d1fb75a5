// Chat across replicas on real NATS JetStream: two in-process chat servers share one stream,
// users on each see the same events in one order per room, with the same member lists.
// Runs when NATS_URL is set (.ci/run sets it), is skipped with the reason otherwise, and fails
// under CI=true when NATS_URL is missing or NATS is unreachable.
import { chatV1 } from '@grpc-patterns/proto';
import { describeRequiring, grpc } from '@grpc-patterns/testing';
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { halfClose, joined, openStream, startChatServer, type ChatStream, type ChatTestServer } from '../test/chat-test-client.js';
import { connectNatsRoomBus, LEASE_EXPIRED_MESSAGE, roomToken, type NatsRoomBus } from './nats-room-bus.js';

const NATS_URL = process.env['NATS_URL'] || undefined;
const { JOINED, LEFT } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED, LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };

/** `describe` when NATS_URL is set or CI=true (a missing URL then fails in beforeAll), else skipped with the reason. */
function describeWithNats(name: string, body: () => void): void {
  describeRequiring(name, NATS_URL ? undefined : 'NATS_URL is not set (e.g. NATS_URL=nats://127.0.0.1:4222; .ci/run sets it)', body);
}

describeWithNats('chat across replicas (NATS JetStream)', () => {
  // One stream and subject prefix per run, so runs (and other engineers) do not share rooms.
  const run = randomBytes(4).toString('hex');
  const stream = `CHAT_TEST_${run}`;
  const subjectPrefix = `chattest.${run}`;
  const leaseBucket = `CHAT_PRESENCE_TEST_${run}`;
  let replicas: ChatTestServer[] = [];

  beforeAll(async () => {
    if (!NATS_URL) throw new Error('NATS is required under CI=true: NATS_URL is not set');
    const probe = await connect({ servers: NATS_URL, timeout: 2000 }).catch((error: unknown) => {
      throw new Error(`NATS at ${NATS_URL} is not reachable (with NATS_URL set that is a failure): ${String(error)}`);
    });
    await probe.close();
  });
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    replicas = [];
  });
  afterAll(async () => {
    if (!NATS_URL) return;
    const nc = await connect({ servers: NATS_URL });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => undefined);
    for (const bucket of [leaseBucket, `${leaseBucket}_SLOW`]) await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    await nc.close();
  });

  async function replica(options: { maxPendingEvents?: number; maxRoomMembers?: number; slowLeases?: boolean } = {}): Promise<ChatTestServer> {
    const maxRoomMembers = options.maxRoomMembers ?? 1000;
    // slowLeases: renewals and sweeps once a minute, so nothing but the test touches a lease.
    const leases = options.slowLeases ? { leaseBucket: `${leaseBucket}_SLOW`, leaseTtlMs: 120_000, heartbeatMs: 60_000 } : { leaseBucket, leaseTtlMs: 3_000, heartbeatMs: 500 };
    const bus = await connectNatsRoomBus({ servers: NATS_URL ?? '', maxRoomMembers, stream, subjectPrefix, ...leases });
    const chat = await startChatServer({ bus, maxRoomMembers, ...(options.maxPendingEvents ? { maxPendingEvents: options.maxPendingEvents } : {}) });
    replicas.push(chat);
    return chat;
  }

  /** A room name no other test uses (the stream keeps a room's numbering). */
  let rooms = 0;
  const freshRoom = () => `room-${++rooms}.x_y`;

  /** Two replicas and a fresh room: alice on A, then bob on B; returns once alice saw bob join. */
  async function aliceAndBob(options: { slowLeases?: boolean } = {}) {
    const [a, b] = [await replica(options), await replica(options)];
    const room = freshRoom();
    const alice = await joined(a.server, room, 'alice');
    const bob = await joined(b.server, room, 'bob');
    await alice.waitForPresence('bob', JOINED);
    return { a, b, room, alice, bob };
  }

  it('shows users on two replicas the same messages and presence in one order', async () => {
    const { a, room, alice, bob } = await aliceAndBob();
    const carol = await joined(a.server, room, 'carol');
    alice.send('hi from alice');
    await carol.waitForMessage('hi from alice');
    bob.send('hi from bob');
    await carol.waitForMessage('hi from bob');
    carol.send('hi from carol');
    await Promise.all([alice, bob, carol].map((s) => s.waitForMessage('hi from carol')));

    const all = ['1 joined alice [alice]', '2 joined bob [alice,bob]', '3 joined carol [alice,bob,carol]', '4 msg alice: hi from alice', '5 msg bob: hi from bob', '6 msg carol: hi from carol'];
    expect(alice.summary()).toEqual(all);
    expect(bob.summary()).toEqual(all.slice(1));
    expect(carol.summary()).toEqual(all.slice(2));
    expect(bob.events[0]).toMatchObject({ room, sequence: '2' });
    expect(bob.events[0].time).toBeInstanceOf(Date);

    // A half-close on replica B: the others see one LEFT with the remaining members.
    expect(await halfClose(bob)).toEqual({ code: grpc.status.OK, details: 'OK' });
    await alice.waitForPresence('bob', LEFT);
    await carol.waitForPresence('bob', LEFT);
    expect(alice.summary().slice(6)).toEqual(['7 left bob [alice,carol]']);
    expect(carol.summary().slice(4)).toEqual(['7 left bob [alice,carol]']);
  });

  it('orders concurrent senders on both replicas the same for everyone, gapless, each sender in its own order', async () => {
    const [a, b] = [await replica(), await replica()];
    const room = freshRoom();
    const streams: ChatStream[] = [await joined(a.server, room, 'u1'), await joined(b.server, room, 'u2'), await joined(a.server, room, 'u3'), await joined(b.server, room, 'u4')];
    await Promise.all(streams.map((s) => s.waitForPresence('u4', JOINED)));
    const PER_SENDER = 25;
    for (let i = 0; i < PER_SENDER; i++) for (const [n, s] of streams.entries()) s.send(`u${n + 1}#${i}`);
    for (const s of streams) for (let n = 1; n <= streams.length; n++) await s.waitForMessage(`u${n}#${PER_SENDER - 1}`);

    // 4 JOINED + 100 messages, numbered 1..104; everyone has the same events from its own JOINED.
    const full = streams[0].summary();
    expect(full).toHaveLength(4 + streams.length * PER_SENDER);
    expect(streams[0].sequences()).toEqual(Array.from({ length: full.length }, (_, i) => i + 1));
    for (const [n, s] of streams.entries()) expect(s.summary()).toEqual(full.slice(n));
    for (let n = 1; n <= streams.length; n++) {
      const own = full.filter((line) => line.includes(` msg u${n}: `)).map((line) => line.split(': ')[1]);
      expect(own).toEqual(Array.from({ length: PER_SENDER }, (_, i) => `u${n}#${i}`));
    }
  });

  it('applies ALREADY_EXISTS and MAX_ROOM_MEMBERS over the whole room, not per replica', async () => {
    const [a, b] = [await replica({ maxRoomMembers: 2 }), await replica({ maxRoomMembers: 2 })];
    const room = freshRoom();
    const alice = await joined(a.server, room, 'alice');
    const twin = openStream(b.server);
    twin.join(room, 'alice');
    expect(await twin.ended).toEqual({ code: grpc.status.ALREADY_EXISTS, details: `user "alice" is already in room "${room}"` });

    const bob = await joined(b.server, room, 'bob');
    const third = openStream(a.server);
    third.join(room, 'carol');
    expect(await third.ended).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: `room "${room}" is full (2 members)` });

    // The rejected joins never entered the room: no presence for them, and no LEFT either.
    alice.send('still two');
    await Promise.all([alice, bob].map((s) => s.waitForMessage('still two')));
    expect(alice.summary()).toEqual(['1 joined alice [alice]', '2 joined bob [alice,bob]', '3 msg alice: still two']);
    expect(bob.summary()).toEqual(['2 joined bob [alice,bob]', '3 msg alice: still two']);
    expect(await (a.service.bus as NatsRoomBus).roomState(room)).toEqual({ sequence: 3, members: ['alice', 'bob'] });
  });

  it('ends a slow reader with RESOURCE_EXHAUSTED while readers on both replicas continue', async () => {
    const [a, b] = [await replica({ maxPendingEvents: 5 }), await replica({ maxPendingEvents: 5 })];
    const room = freshRoom();
    const sender = await joined(b.server, room, 'sender');
    const reader = await joined(a.server, room, 'reader');
    const slow = await joined(a.server, room, 'slow');
    await sender.waitForPresence('slow', JOINED);
    slow.call.pause();

    const text = (n: number) => `${n} `.padEnd(4096, 'x');
    let sent = 0;
    for (let batch = 0; batch < 100 && !reader.summary().some((s) => s.includes(' left slow ')); batch++) {
      for (let i = 0; i < 20; i++) sender.send(text(sent++));
      await reader.waitForMessage(text(sent - 1));
    }
    const left = await reader.waitForPresence('slow', LEFT);
    expect(left.event).toEqual({ $case: 'presence', presence: { user: 'slow', kind: LEFT, members: ['reader', 'sender'] } });
    await sender.waitForPresence('slow', LEFT);
    sender.send('after the slow one left');
    await reader.waitForMessage('after the slow one left');
    await sender.waitForMessage('after the slow one left');
    for (const stream of [sender, reader]) {
      const sequences = stream.sequences();
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => sequences[0] + i));
      expect(stream.summary().filter((s) => s.includes(' left slow '))).toHaveLength(1);
    }
    expect(a.logs.filter((l) => l.msg === 'client too slow: ending its stream')).toHaveLength(1);

    slow.call.resume();
    expect(await slow.ended).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'client too slow' });
    expect(await (b.service.bus as NatsRoomBus).roomState(room)).toMatchObject({ members: ['reader', 'sender'] });
  });

  it('stops consuming a room on a replica once its last local member left', async () => {
    const [a, b] = [await replica(), await replica()];
    const room = freshRoom();
    const alice = await joined(a.server, room, 'alice');
    const bob = await joined(b.server, room, 'bob');
    expect([(a.service.bus as NatsRoomBus).roomCount(), (b.service.bus as NatsRoomBus).roomCount()]).toEqual([1, 1]);
    await halfClose(bob);
    await alice.waitForPresence('bob', LEFT);
    expect([(a.service.bus as NatsRoomBus).roomCount(), (b.service.bus as NatsRoomBus).roomCount()]).toEqual([1, 0]);
    // Alone on its replica, the last member still announces its LEFT to the room's state.
    await halfClose(alice);
    await waitUntil(async () => (await (b.service.bus as NatsRoomBus).roomState(room)).members.length === 0, 'the room to be empty');
    expect(await (b.service.bus as NatsRoomBus).roomState(room)).toEqual({ sequence: 4, members: [] });
  });

  it('ends a member whose lease expired under its replica with UNAVAILABLE; the others see one LEFT', async () => {
    const { a, b, room, alice, bob } = await aliceAndBob();
    // What a stalled event loop or a long partition does to a lease: the key is gone.
    expect(await deleteLease(leaseBucket, room, 'alice')).toEqual(['alice', 'bob']);
    expect(await alice.ended).toEqual({ code: grpc.status.UNAVAILABLE, details: LEASE_EXPIRED_MESSAGE });
    await bob.waitForPresence('alice', LEFT);
    bob.send('after');
    await bob.waitForMessage('after');
    expect(bob.summary()).toEqual(['2 joined bob [alice,bob]', '3 left alice [bob]', '4 msg bob: after']);
    expect(alice.summary()).toEqual(['1 joined alice [alice]', '2 joined bob [alice,bob]']);
    await waitUntil(async () => (a.service.bus as NatsRoomBus).leaseCount() === 0, 'replica A to drop the lost lease');
    expect((b.service.bus as NatsRoomBus).leaseCount()).toBe(1);
    expect(await (b.service.bus as NatsRoomBus).roomState(room)).toEqual({ sequence: 4, members: ['bob'] });
  });

  it('lets a JOINED take a name held by an expired lease: the stale member is announced LEFT first', async () => {
    const { b, room, alice, bob } = await aliceAndBob({ slowLeases: true });
    await deleteLease(`${leaseBucket}_SLOW`, room, 'alice');
    // No sweep runs for a minute: the join itself finds the dead lease and announces it.
    const again = await joined(b.server, room, 'alice');
    expect(bob.summary()).toEqual(['2 joined bob [alice,bob]', '3 left alice [bob]', '4 joined alice [alice,bob]']);
    expect(again.summary()).toEqual(['4 joined alice [alice,bob]']);
    expect(await alice.ended).toEqual({ code: grpc.status.UNAVAILABLE, details: LEASE_EXPIRED_MESSAGE });
    expect(b.logs.filter((l) => l.msg === 'left room')).toHaveLength(0);
  });

  it('refuses to start on a lease bucket with another TTL, or with a heartbeat over half the TTL, naming the variable', async () => {
    await replica(); // the bucket exists with 3000 ms
    const other = connectNatsRoomBus({ servers: NATS_URL ?? '', maxRoomMembers: 10, stream, subjectPrefix, leaseBucket, leaseTtlMs: 4_000, heartbeatMs: 500 });
    await expect(other).rejects.toThrow(
      `PRESENCE_LEASE_TTL_MS: the NATS KV bucket ${leaseBucket} keeps leases 3000 ms; every replica must use the same TTL (got "4000"; to change it, stop all replicas and delete the bucket)`,
    );
    const slowHeartbeat = connectNatsRoomBus({ servers: NATS_URL ?? '', maxRoomMembers: 10, stream, subjectPrefix, leaseBucket, leaseTtlMs: 3_000, heartbeatMs: 1_501 });
    await expect(slowHeartbeat).rejects.toThrow('PRESENCE_HEARTBEAT_MS: must be at most half of PRESENCE_LEASE_TTL_MS (3000) (got "1501")');
  });

  it('keeps no lease after members leave, and a sweep of a room of live members announces nobody', async () => {
    const { a, b, room, alice, bob } = await aliceAndBob();
    expect(await (a.service.bus as NatsRoomBus).sweep(room)).toEqual([]);
    await halfClose(bob);
    await alice.waitForPresence('bob', LEFT);
    await halfClose(alice);
    await waitUntil(async () => (await (a.service.bus as NatsRoomBus).roomState(room)).members.length === 0, 'the room to be empty');
    expect([(a.service.bus as NatsRoomBus).leaseCount(), (b.service.bus as NatsRoomBus).leaseCount()]).toEqual([0, 0]);
  });

  it('encodes room names into one subject token each, injectively', () => {
    expect(['a.b', 'a_db', 'a__b', 'a-b'].map(roomToken)).toEqual(['a_db', 'a__db', 'a____b', 'a-b']);
  });
});

/**
 * Deletes `user`'s lease key in `bucket` behind the replicas' backs (what an expiry does).
 *
 * @returns the users holding a lease in `room` before.
 */
async function deleteLease(bucket: string, room: string, user: string): Promise<string[]> {
  const nc = await connect({ servers: NATS_URL ?? '' });
  try {
    const kv = await nc.jetstream().views.kv(bucket);
    // Keys first, values after: nats.js' keys() iterator drops keys that arrive while the loop body awaits.
    const keys: string[] = [];
    for await (const key of await kv.keys(`${roomToken(room)}.*`)) keys.push(key);
    const owners = await Promise.all(keys.map(async (key) => [key, (await kv.get(key))?.json<{ user: string }>().user ?? ''] as const));
    const key = owners.find(([, owner]) => owner === user)?.[0];
    if (!key) throw new Error(`no lease of ${user} in ${room}`);
    await kv.delete(key);
    return owners.map(([, owner]) => owner).sort();
  } finally {
    await nc.close();
  }
}

/** Polls `check` every 20 ms until true; fails after 10 s (no timing is asserted). */
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
