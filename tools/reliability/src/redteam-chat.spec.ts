// Red-team finding 7, chat part (issue 17): with the old default CHAT_IDENTITY=name any logged-in
// user joined a room, and spoke, as any other user. The real auth and chat as child processes
// with chat's DEFAULT configuration (no CHAT_IDENTITY set): the member is the caller's token
// subject; a JoinRoom naming someone else (their id, or any other name) is PERMISSION_DENIED
// before the room sees it, and what B sends is shown as B.
import { closeAllChannels, createClient } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { grpc } from '@grpc-patterns/testing';
import { randomBytes } from 'node:crypto';
import { expectAlive, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack, type StackUser } from './stack.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`red-team chat suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

const { PresenceKind } = chatV1;

/** One Chat stream: its events and its final status ("CODE: details"). */
class Member {
  readonly events: chatV1.ChatResponse[] = [];
  readonly ended: Promise<string>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly call: grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>) {
    call.on('data', (e: chatV1.ChatResponse) => {
      this.events.push(e);
      for (const w of [...this.waiters]) w();
    });
    call.on('error', () => undefined);
    this.ended = new Promise((resolve) => call.on('status', (s: grpc.StatusObject) => resolve(`${grpc.status[s.code]}: ${s.details}`)));
  }

  /** The first event matching `match`, waiting up to 20 s for it. */
  async next(match: (e: chatV1.ChatResponse) => boolean, what: string): Promise<chatV1.ChatResponse> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what}; got ${JSON.stringify(this.events.map((e) => e.event))}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 500);
        this.waiters.add(wake);
      });
    }
  }
}

(run ? describe : describe.skip)('red-team finding 7 (chat): with the default configuration, user B cannot join or speak as user A', () => {
  let stack: Stack;
  let a: StackUser;
  let b: StackUser;
  let client: chatV1.ChatServiceClient;
  const opened: Member[] = [];
  const room = `redteam-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    stack = await startStack(['chat']);
    [a, b] = [await stack.user('alice'), await stack.user('bob')];
    client = createClient(chatV1.ChatServiceClient, stack.get('chat').target);
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    for (const m of opened) m.call.cancel();
    closeAllChannels();
    await stack?.stop();
  });

  function join(as: StackUser, user: string): Member {
    const member = new Member(client.chat(as.metadata()));
    opened.push(member);
    member.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user } } }));
    return member;
  }

  it('B naming A (by id, by username, or any other name) is PERMISSION_DENIED; B joins and speaks only as B', async () => {
    const alice = join(a, '');
    await alice.next((e) => e.event?.$case === 'presence' && e.event.presence.user === a.id && e.event.presence.kind === PresenceKind.PRESENCE_KIND_JOINED, "A's own join");

    const denied = `PERMISSION_DENIED: join.user: must be empty or your own user id ${JSON.stringify(b.id)}`;
    for (const impostor of [a.id, a.username, 'alice', a.id.toUpperCase()]) {
      expect(await join(b, impostor).ended).toBe(denied);
    }

    const bob = join(b, '');
    await alice.next((e) => e.event?.$case === 'presence' && e.event.presence.user === b.id && e.event.presence.kind === PresenceKind.PRESENCE_KIND_JOINED, "B's join");
    bob.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text: `I am ${a.id}` } } }));
    const said = await alice.next((e) => e.event?.$case === 'message', "B's message");
    expect(said.event).toEqual({ $case: 'message', message: { user: b.id, text: `I am ${a.id}` } });
    // The room never saw a member other than A and B, nor a message from A that A did not send.
    const users = new Set(alice.events.map((e) => (e.event?.$case === 'presence' ? e.event.presence.user : e.event?.$case === 'message' ? e.event.message.user : '')));
    expect([...users].sort()).toEqual([a.id, b.id].sort());
    await expectAlive(stack.get('chat'));
  });
});
