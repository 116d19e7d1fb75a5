// Graceful shutdown: grpc-kit ends open streams with UNAVAILABLE; the chat sessions clean up
// on the abort so no member or room state is left behind.
import { grpc } from '@grpc-patterns/testing';
import { joined, startChatServer } from '../test/chat-test-client.js';

describe('chat shutdown', () => {
  it('ends every open stream with UNAVAILABLE and leaves no room state behind', async () => {
    const chat = await startChatServer();
    try {
      const alice = await joined(chat.server, 'lobby', 'alice');
      const bob = await joined(chat.server, 'lobby', 'bob');
      const carol = await joined(chat.server, 'other', 'carol');
      expect(chat.server.running.openStreams()).toBe(3);

      await chat.server.running.shutdown('test');
      const unavailable = { code: grpc.status.UNAVAILABLE, details: 'server shutting down' };
      expect(await alice.ended).toEqual(unavailable);
      expect(await bob.ended).toEqual(unavailable);
      expect(await carol.ended).toEqual(unavailable);
      expect(chat.service.rooms.roomCount()).toBe(0);
      expect(chat.logs.filter((l) => l.msg === 'left room').map((l) => `${l.user} ${l.reason}`)).toEqual(['alice', 'bob', 'carol'].map((u) => `${u} server shutting down`));
      // No handler error was turned into INTERNAL on the way.
      expect(chat.server.logs.filter((l) => l.msg === 'unexpected error in handler')).toEqual([]);
    } finally {
      await chat.close();
    }
  });
});
