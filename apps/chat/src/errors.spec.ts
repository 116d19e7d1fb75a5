// Every status the Chat stream can end with because of the request: exact codes and messages,
// and the member's removal from the room when the stream fails after joining.
import { chatV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { joined, openStream, startChatServer, type ChatStream, type ChatTestServer, type EndStatus } from '../test/chat-test-client.js';

const { JOINED, LEFT } = { JOINED: chatV1.PresenceKind.PRESENCE_KIND_JOINED, LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };
const { INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, RESOURCE_EXHAUSTED, OK } = grpc.status;

describe('chat errors', () => {
  let chat: ChatTestServer;
  beforeEach(async () => {
    chat = await startChatServer({ maxRoomMembers: 3 });
  });
  afterEach(async () => {
    await chat.close();
  });

  /** Opens a stream, writes `requests`, and returns how it ended. */
  async function endOf(write: (stream: ChatStream) => void): Promise<EndStatus> {
    const stream = openStream(chat.server);
    write(stream);
    return stream.ended;
  }

  const join = (room: string, user: string) => (s: ChatStream) => s.join(room, user);

  describe('the first request', () => {
    it('must be a JoinRoom: INVALID_ARGUMENT naming join', async () => {
      const expected = { code: INVALID_ARGUMENT, details: 'join: the first request must be a join' };
      expect(await endOf((s) => s.send('hello'))).toEqual(expected);
      expect(await endOf((s) => s.call.write(chatV1.ChatRequest.fromPartial({})))).toEqual(expected);
      expect(await endOf((s) => s.call.end())).toEqual(expected);
    });

    it('names a bad room: join.room', async () => {
      const expected = { code: INVALID_ARGUMENT, details: 'join.room: must be 1-64 characters of [a-zA-Z0-9_.-]' };
      expect(await endOf(join('', 'alice'))).toEqual(expected);
      expect(await endOf(join('a b', 'alice'))).toEqual(expected);
      expect(await endOf(join('lobby/1', 'alice'))).toEqual(expected);
      expect(await endOf(join('x'.repeat(65), 'alice'))).toEqual(expected);
    });

    it('names a bad user: join.user', async () => {
      const tooLong = { code: INVALID_ARGUMENT, details: 'join.user: must be 1-64 characters' };
      expect(await endOf(join('lobby', ''))).toEqual(tooLong);
      expect(await endOf(join('lobby', 'u'.repeat(65)))).toEqual(tooLong);
      const control = { code: INVALID_ARGUMENT, details: 'join.user: must not contain control characters' };
      expect(await endOf(join('lobby', 'bell\u0007'))).toEqual(control);
      expect(await endOf(join('lobby', 'two\nlines'))).toEqual(control);
      expect(await endOf(join('lobby', 'c1\u009b'))).toEqual(control);
    });

    it('names every bad field at once', async () => {
      expect(await endOf(join('', ''))).toEqual({
        code: INVALID_ARGUMENT,
        details: 'join.room: must be 1-64 characters of [a-zA-Z0-9_.-]; join.user: must be 1-64 characters',
      });
    });

    it('accepts the longest room and user names (characters, not UTF-16 units)', async () => {
      const room = 'R'.repeat(64);
      const user = '😀'.repeat(64); // 64 characters, 128 UTF-16 code units
      const stream = await joined(chat.server, room, user);
      expect(stream.summary()).toEqual([`1 joined ${user} [${user}]`]);
    });
  });

  it('rejects a user name already in the room: ALREADY_EXISTS', async () => {
    await joined(chat.server, 'lobby', 'alice');
    expect(await endOf(join('lobby', 'alice'))).toEqual({ code: ALREADY_EXISTS, details: 'user "alice" is already in room "lobby"' });
    expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
  });

  it('rejects a join beyond MAX_ROOM_MEMBERS: RESOURCE_EXHAUSTED', async () => {
    const first = await joined(chat.server, 'lobby', 'a');
    await joined(chat.server, 'lobby', 'b');
    await joined(chat.server, 'lobby', 'c');
    expect(await endOf(join('lobby', 'd'))).toEqual({ code: RESOURCE_EXHAUSTED, details: 'room "lobby" is full (3 members)' });
    expect(chat.service.rooms.members('lobby')).toEqual(['a', 'b', 'c']);
    // Another room is not affected, and a place frees up when someone leaves.
    await joined(chat.server, 'other', 'd');
    first.call.end();
    await first.ended;
    await joined(chat.server, 'lobby', 'd');
  });

  describe('after joining', () => {
    let alice: ChatStream;
    let bob: ChatStream;
    beforeEach(async () => {
      alice = await joined(chat.server, 'lobby', 'alice');
      bob = await joined(chat.server, 'lobby', 'bob');
      await alice.waitForPresence('bob', JOINED);
    });

    /** bob's stream fails; alice sees exactly one LEFT of bob, with the remaining members. */
    async function expectBobRemoved(expectedLeft = '3 left bob [alice]'): Promise<void> {
      await alice.waitForPresence('bob', LEFT);
      alice.send('flush');
      await alice.waitForMessage('flush');
      expect(alice.summary().filter((s) => s.includes('left bob'))).toEqual([expectedLeft]);
      expect(chat.service.rooms.members('lobby')).toEqual(['alice']);
    }

    it('rejects an empty text: INVALID_ARGUMENT naming send.text', async () => {
      bob.send('');
      expect(await bob.ended).toEqual({ code: INVALID_ARGUMENT, details: 'send.text: must be 1-4096 characters' });
      await expectBobRemoved();
    });

    it('rejects a text over 4096 characters, accepts 4096', async () => {
      const longest = 'é'.repeat(4096);
      bob.send(longest);
      bob.send('x'.repeat(4097));
      expect(await bob.ended).toEqual({ code: INVALID_ARGUMENT, details: 'send.text: must be 1-4096 characters' });
      // Events queued before the bad request still reach the client, then the status.
      expect(bob.events.map((e) => (e.event?.$case === 'message' ? e.event.message.text.length : e.event?.$case))).toEqual(['presence', 4096]);
      await alice.waitForMessage(longest);
      await expectBobRemoved('4 left bob [alice]');
    });

    it('rejects a second JoinRoom on the same stream: FAILED_PRECONDITION', async () => {
      bob.join('other', 'bob');
      expect(await bob.ended).toEqual({ code: FAILED_PRECONDITION, details: 'already in room "lobby": one JoinRoom per stream' });
      await expectBobRemoved();
      expect(chat.service.rooms.members('other')).toEqual([]);
    });

    it('rejects a request with no action: INVALID_ARGUMENT naming action', async () => {
      bob.call.write(chatV1.ChatRequest.fromPartial({}));
      expect(await bob.ended).toEqual({ code: INVALID_ARGUMENT, details: 'action: must be join or send' });
      await expectBobRemoved();
    });

    it('keeps serving the others and ends them OK on half-close', async () => {
      bob.send('');
      await bob.ended;
      alice.call.end();
      expect(await alice.ended).toEqual({ code: OK, details: 'OK' });
    });
  });
});
