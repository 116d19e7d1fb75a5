// One order per room under concurrency: several senders at once, and every member receives
// the identical sequence, with no gaps, each sender's messages in the order it sent them.
import { chatV1 } from '@grpc-patterns/proto';
import { joined, startChatServer, type ChatStream, type ChatTestServer } from '../test/chat-test-client.js';

const USERS = ['alice', 'bob', 'carol'];
const PER_USER = 100;

describe('chat ordering', () => {
  let chat: ChatTestServer;
  beforeAll(async () => {
    chat = await startChatServer();
  });
  afterAll(async () => {
    await chat.close();
  });

  it(`gives ${USERS.length} concurrent senders x ${PER_USER} messages one identical, gapless order at every member`, async () => {
    const streams: ChatStream[] = [];
    for (const user of USERS) streams.push(await joined(chat.server, 'race', user));
    for (const stream of streams) await stream.waitForPresence(USERS[USERS.length - 1], chatV1.PresenceKind.PRESENCE_KIND_JOINED);
    const lastJoin = USERS.length; // sequences 1..3 are the joins

    // Interleave the writes of all senders; each is on its own connection, so the server sees
    // them arrive concurrently.
    for (let i = 0; i < PER_USER; i++) streams.forEach((stream, u) => stream.send(`${USERS[u]}-${i}`));
    const last = USERS.length * PER_USER + lastJoin;
    await Promise.all(streams.map((s) => s.waitFor((e) => Number(e.sequence) === last, `sequence ${last}`)));

    const afterJoins = streams.map((s) => s.summary().filter((line) => Number(line.split(' ')[0]) > lastJoin));
    for (const events of afterJoins) expect(events).toEqual(afterJoins[0]);
    for (const stream of streams) {
      const sequences = stream.sequences();
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => sequences[0] + i));
      expect(sequences[sequences.length - 1]).toBe(last);
    }
    const messages = afterJoins[0].map((line) => line.replace(/^\d+ msg /, ''));
    expect(messages).toHaveLength(USERS.length * PER_USER);
    for (const user of USERS) {
      expect(messages.filter((m) => m.startsWith(`${user}: `))).toEqual(Array.from({ length: PER_USER }, (_, i) => `${user}: ${user}-${i}`));
    }
    // The senders really raced: the room order switches between senders, it is not one
    // sender's batch after another's (three batches would switch twice).
    const switches = messages.filter((m, k) => k > 0 && m.split(':')[0] !== messages[k - 1].split(':')[0]).length;
    expect(switches).toBeGreaterThan(2);
  });
});
