// Messages and presence: members of a room see the same events in the same sequence order,
// rooms are isolated, and presence carries the sorted member list.
import { chatV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { halfClose, joined, openStream, startChatServer, type ChatTestServer } from '../test/chat-test-client.js';

const { JOINED, LEFT } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED, LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };

describe('chat rooms', () => {
  let chat: ChatTestServer;
  beforeEach(async () => {
    chat = await startChatServer();
  });
  afterEach(async () => {
    await chat.close();
  });

  it('shows three users the same messages and presence in the same sequence order', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    await alice.waitForPresence('bob', JOINED);
    const carol = await joined(chat.server, 'lobby', 'carol');
    alice.send('hi from alice');
    await carol.waitForMessage('hi from alice');
    bob.send('hi from bob');
    await carol.waitForMessage('hi from bob');
    carol.send('hi from carol');
    await Promise.all([alice, bob, carol].map((s) => s.waitForMessage('hi from carol')));

    const all = ['1 joined alice [alice]', '2 joined bob [alice,bob]', '3 joined carol [alice,bob,carol]', '4 msg alice: hi from alice', '5 msg bob: hi from bob', '6 msg carol: hi from carol'];
    // Each member's stream starts with its own JOINED and then has every later event, no gaps.
    expect(alice.summary()).toEqual(all);
    expect(bob.summary()).toEqual(all.slice(1));
    expect(carol.summary()).toEqual(all.slice(2));
    // The sender gets its own message back with its place in the room order.
    const echo = alice.events[3];
    expect(echo).toMatchObject({ room: 'lobby', sequence: '4', event: { $case: 'message', message: { user: 'alice', text: 'hi from alice' } } });
    expect(echo.time).toBeInstanceOf(Date);
  });

  it('keeps rooms isolated, each with its own sequence from 1', async () => {
    const alice = await joined(chat.server, 'red', 'alice');
    const bob = await joined(chat.server, 'blue', 'bob');
    // The same name may be used in another room.
    const alice2 = await joined(chat.server, 'blue', 'alice');
    alice.send('to red');
    bob.send('to blue');
    await alice.waitForMessage('to red');
    await Promise.all([bob, alice2].map((s) => s.waitForMessage('to blue')));

    expect(alice.summary()).toEqual(['1 joined alice [alice]', '2 msg alice: to red']);
    expect(bob.summary()).toEqual(['1 joined bob [bob]', '2 joined alice [alice,bob]', '3 msg bob: to blue']);
    expect(alice2.summary()).toEqual(['2 joined alice [alice,bob]', '3 msg bob: to blue']);
    expect(alice.events.every((e) => e.room === 'red')).toBe(true);
    expect(bob.events.every((e) => e.room === 'blue')).toBe(true);
  });

  it('announces a half-close as LEFT with the remaining members, and ends the leaver OK', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    const carol = await joined(chat.server, 'lobby', 'carol');
    await alice.waitForPresence('carol', JOINED);
    await bob.waitForPresence('carol', JOINED);

    expect(await halfClose(carol)).toEqual({ code: grpc.status.OK, details: 'OK' });
    await alice.waitForPresence('carol', LEFT);
    await bob.waitForPresence('carol', LEFT);
    expect(alice.summary().slice(-1)).toEqual(['4 left carol [alice,bob]']);
    expect(bob.summary().slice(-1)).toEqual(['4 left carol [alice,bob]']);
    // The leaver never sees its own LEFT.
    expect(carol.summary()).toEqual(['3 joined carol [alice,bob,carol]']);
    expect(chat.service.rooms.members('lobby')).toEqual(['alice', 'bob']);

    // The name is free again.
    const carolAgain = await joined(chat.server, 'lobby', 'carol');
    expect(carolAgain.summary()).toEqual(['5 joined carol [alice,bob,carol]']);
  });

  it('delivers the events queued before a half-close, then OK', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    bob.send('last words');
    const ended = await halfClose(bob);
    expect(ended.code).toBe(grpc.status.OK);
    expect(bob.summary()).toEqual(['2 joined bob [alice,bob]', '3 msg bob: last words']);
    await alice.waitForPresence('bob', LEFT);
    expect(alice.summary()).toEqual(['1 joined alice [alice]', '2 joined bob [alice,bob]', '3 msg bob: last words', '4 left bob [alice]']);
  });

  it('forgets an empty room: its next member starts at sequence 1', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const bob = await joined(chat.server, 'lobby', 'bob');
    await halfClose(alice);
    await halfClose(bob);
    expect(chat.service.rooms.roomCount()).toBe(0);
    expect((chat.service.bus as unknown as { roomCount(): number }).roomCount()).toBe(0);
    const carol = await joined(chat.server, 'lobby', 'carol');
    expect(carol.summary()).toEqual(['1 joined carol [carol]']);
  });

  it('does not add a stream to a room before its JoinRoom', async () => {
    const alice = await joined(chat.server, 'lobby', 'alice');
    const idle = openStream(chat.server);
    alice.send('anyone?');
    await alice.waitForMessage('anyone?');
    expect(idle.events).toEqual([]);
    expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
    idle.call.cancel();
    expect((await idle.ended).code).toBe(grpc.status.CANCELLED);
  });
});
