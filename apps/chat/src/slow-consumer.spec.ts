// Slow consumers: a member whose client stops reading fills its bounded outbox and is ended
// with RESOURCE_EXHAUSTED "client too slow"; the room goes on without it.
import { chatV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { joined, startChatServer, type ChatTestServer } from '../test/chat-test-client.js';

const MAX_PENDING_EVENTS = 5;
const { LEFT } = { LEFT: chatV1.PresenceKind.PRESENCE_KIND_LEFT };

describe('chat slow consumers', () => {
  let chat: ChatTestServer;
  beforeEach(async () => {
    chat = await startChatServer({ maxPendingEvents: MAX_PENDING_EVENTS });
  });
  afterEach(async () => {
    await chat.close();
  });

  it('ends a client that does not read with RESOURCE_EXHAUSTED, while the others continue', async () => {
    const sender = await joined(chat.server, 'lobby', 'sender');
    const reader = await joined(chat.server, 'lobby', 'reader');
    const slow = await joined(chat.server, 'lobby', 'slow');
    // Stop reading: grpc-js stops taking messages off the connection, HTTP/2 flow control
    // fills up, the server's writes wait for 'drain', and the events pile up in the outbox.
    slow.call.pause();

    // Send 4 KiB messages in batches until the room drops the slow member. How many it takes
    // depends on socket and HTTP/2 window sizes, not on the server: bounded at 100 batches.
    const text = (n: number) => `${n} `.padEnd(4096, 'x');
    let sent = 0;
    for (let batch = 0; batch < 100 && !reader.summary().some((s) => s.includes(' left slow ')); batch++) {
      for (let i = 0; i < 20; i++) sender.send(text(sent++));
      await reader.waitForMessage(text(sent - 1));
    }
    const left = await reader.waitForPresence('slow', LEFT);
    expect(left.event).toEqual({ $case: 'presence', presence: { user: 'slow', kind: LEFT, members: ['reader', 'sender'] } });

    // The others continue: more messages, and every member that kept reading has a gapless
    // order containing exactly one LEFT of the slow member.
    sender.send('after the slow one left');
    await reader.waitForMessage('after the slow one left');
    await sender.waitForMessage('after the slow one left');
    for (const stream of [sender, reader]) {
      const sequences = stream.sequences();
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => sequences[0] + i));
      expect(stream.summary().filter((s) => s.includes(' left slow '))).toHaveLength(1);
    }
    expect(chat.service.rooms.members('lobby')).toEqual(['reader', 'sender']);
    expect(chat.logs.filter((l) => l.msg === 'client too slow: ending its stream')).toHaveLength(1);

    // When the slow client reads again, it gets what was already on its way, then the status.
    slow.call.resume();
    expect(await slow.ended).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'client too slow' });
    const received = slow.sequences();
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => received[0] + i));
    // It missed events (that is the point), and never got its own LEFT.
    expect(received[received.length - 1]).toBeLessThan(Number(left.sequence));
  });
});
