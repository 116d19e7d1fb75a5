// A client that goes away without a half-close (cancel, deadline, network drop) is removed from
// its room, and the others see exactly one LEFT for it.
import { chatV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { joined, startChatServer, type ChatStream, type ChatTestServer } from '../test/chat-test-client.js';

const { JOINED, LEFT } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED, LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };

/** LEFT events of `user` that `stream` received, after a message round trip flushed the room. */
async function leftEventsOf(stream: ChatStream, user: string, marker: string): Promise<string[]> {
  stream.send(marker);
  await stream.waitForMessage(marker);
  return stream.summary().filter((s) => s.includes(` left ${user} `));
}

describe('chat disconnects', () => {
  let chat: ChatTestServer;
  beforeEach(async () => {
    chat = await startChatServer();
  });
  afterEach(async () => {
    await chat.close();
  });

  it('removes a cancelled client: the others see one LEFT', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    await alice.waitForPresence('bob', JOINED);
    bob.call.cancel();
    expect((await bob.ended).code).toBe(grpc.status.CANCELLED);
    await alice.waitForPresence('bob', LEFT);
    expect(await leftEventsOf(alice, 'bob', 'after cancel')).toEqual(['3 left bob [alice]']);
    expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
  });

  it('removes a client whose deadline passed: the others see one LEFT', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob', { deadline: Date.now() + 500 });
    await alice.waitForPresence('bob', JOINED);
    expect((await bob.ended).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await alice.waitForPresence('bob', LEFT);
    expect(await leftEventsOf(alice, 'bob', 'after deadline')).toEqual(['3 left bob [alice]']);
    expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
  });

  it('removes a client whose process was killed (connection lost): the others see one LEFT', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const child = spawn(process.execPath, [join(__dirname, '../test/fixtures/drop-client.cjs'), chat.server.target, 'lobby', 'bob'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('joined') && resolve());
      child.once('exit', (code) => reject(new Error(`drop-client exited early (${code})`)));
    });
    await alice.waitForPresence('bob', JOINED);
    child.kill('SIGKILL');
    await exited;
    await alice.waitForPresence('bob', LEFT);
    expect(await leftEventsOf(alice, 'bob', 'after drop')).toEqual(['3 left bob [alice]']);
    expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
  });

  it('logs each join and leave with its reason', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    bob.call.cancel();
    await alice.waitForPresence('bob', LEFT);
    const lines = chat.logs.filter((l) => l.msg === 'joined room' || l.msg === 'left room').map((l) => `${l.msg} ${l.room} ${l.user} ${l.reason ?? ''}`.trim());
    expect(lines).toEqual(['joined room lobby alice', 'joined room lobby bob', 'left room lobby bob cancelled']);
  });
});
