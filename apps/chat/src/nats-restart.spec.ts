// NATS restarting under a running chat service: the affected streams end with UNAVAILABLE, the
// service reconnects by itself and new streams work, and the LEFT of the members the outage
// removed reach the room's state after the restart. Needs the nats-server binary (the machine's
// NATS install) and runs its own server on a free port with its own store, so the shared NATS
// is never restarted. Runs with NATS_URL set (as the other NATS suite) or CI=true.
import { chatV1 } from '@grpc-patterns/proto';
import { freePort, grpc } from '@grpc-patterns/testing';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { joined, openStream, startChatServer, type ChatStream, type ChatTestServer } from '../test/chat-test-client.js';
import { connectNatsRoomBus, type NatsRoomBus } from './nats-room-bus.js';

/** Debian installs it in /usr/sbin, which is not on every PATH. */
const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';

const RUN = Boolean(process.env['NATS_URL']) || process.env['CI'] === 'true';
const { JOINED } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED };

const suite = RUN ? describe : describe.skip;
if (!RUN) process.stderr.write('SKIPPED "chat when NATS restarts": NATS_URL is not set (e.g. NATS_URL=nats://127.0.0.1:4222; .ci/run sets it)\n');

suite('chat when NATS restarts', () => {
  let port: number;
  let store: string;
  let nats: ChildProcess | undefined;
  const replicas: ChatTestServer[] = [];

  beforeAll(async () => {
    const probe = spawnSync(NATS_SERVER, ['--version']);
    if (probe.status !== 0) throw new Error('nats-server is not installed (this suite starts its own; see DEVELOPERS.md)');
    port = await freePort();
    store = mkdtempSync(join(tmpdir(), 'chat-nats-'));
    await startNats();
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await stopNats();
    rmSync(store, { recursive: true, force: true });
  });

  async function startNats(): Promise<void> {
    nats = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
    await waitUntil(async () => {
      const nc = await connect({ servers: `nats://127.0.0.1:${port}`, timeout: 500 }).catch(() => undefined);
      if (!nc) return false;
      const ok = await nc
        .jetstreamManager()
        .then(() => true)
        .catch(() => false);
      await nc.close();
      return ok;
    }, 'nats-server to accept JetStream requests');
  }

  async function stopNats(): Promise<void> {
    const child = nats;
    nats = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  it('ends the affected streams with UNAVAILABLE and recovers without a restart', async () => {
    const servers = `nats://127.0.0.1:${port}`;
    for (let i = 0; i < 2; i++) {
      const bus = await connectNatsRoomBus({ servers, maxRoomMembers: 100, leaseTtlMs: 2_000, heartbeatMs: 500 });
      replicas.push(await startChatServer({ bus }));
    }
    const [a, b] = replicas;
    const alice = await joined(a.server, 'lobby', 'alice');
    const bob = await joined(b.server, 'lobby', 'bob');
    await alice.waitForPresence('bob', JOINED);

    await stopNats();
    for (const stream of [alice, bob]) {
      const ended = await stream.ended;
      expect(ended.code).toBe(grpc.status.UNAVAILABLE);
      expect(ended.details).toMatch(/^chat bus/);
    }
    // While NATS is down, a new stream fails with UNAVAILABLE too.
    const early = openStream(a.server);
    early.join('lobby', 'early');
    expect((await early.ended).code).toBe(grpc.status.UNAVAILABLE);

    await startNats();
    // Same service objects, no restart: a join succeeds once the client has reconnected.
    let carol: ChatStream | undefined;
    await waitUntil(async () => {
      const attempt = openStream(b.server);
      attempt.join('lobby', 'carol');
      const outcome = await Promise.race([attempt.waitForPresence('carol', JOINED).then(() => 'joined'), attempt.ended.then(() => 'ended')]).catch(() => 'ended');
      if (outcome === 'joined') carol = attempt;
      return outcome === 'joined';
    }, 'a join to succeed after the restart');
    expect(carol).toBeDefined();

    // The outage's LEFTs come from the leases: alice's and bob's are no longer renewed, expire, and
    // the replica following the room announces them; carol stays.
    const bus = b.service.bus as NatsRoomBus;
    await waitUntil(async () => (await bus.roomState('lobby')).members.join() === 'carol', 'the LEFT of alice and bob');
    expect((await bus.roomState('lobby')).members).toEqual(['carol']);
    carol?.send('back');
    await carol?.waitForMessage('back');
  }, 60_000);
});

/** Polls `check` every 100 ms until true; fails after 30 s (no timing is asserted). */
async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
