// The default CHAT_IDENTITY (token), for real: the real auth and a real chat process started with
// no CHAT_IDENTITY at all, which takes each member's name from the caller's verified access token
// (its subject, auth's user id) instead of trusting the JoinRoom's `user` (red-team finding 7 of
// issue 17: with the old default, `name`, any user joined and spoke as any other). Needs the built auth and chat apps (npx nx run-many -t build); skipped
// with the reason without them, except under CI=true, where that fails.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { appMain, grpc, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { existsSync } from 'node:fs';
import { ChatStream } from '../test/chat-test-client.js';
import { startRealAuth, type RealAuth } from '../test/real-auth.js';

const built = ['auth', 'chat'].every((app) => existsSync(appMain(app)));
const suite = built || process.env['CI'] === 'true' ? describe : describe.skip;
if (!built && process.env['CI'] !== 'true') process.stderr.write('SKIPPED "chat with the default CHAT_IDENTITY (token)": apps/auth or apps/chat is not built (npx nx run-many -t build)\n');

const JOINED = chatV1.PresenceKind.PRESENCE_KIND_JOINED;

suite('chat with the default CHAT_IDENTITY (token)', () => {
  let auth: RealAuth | undefined;
  let chat: ServiceProcess | undefined;
  const streams: ChatStream[] = [];

  beforeAll(async () => {
    if (!built) throw new Error('required under CI=true: apps/auth and apps/chat built (npx nx run-many -t build)');
    auth = await startRealAuth(['ada', 'bob']);
    chat = await spawnService({ name: 'chat', env: { AUTH_TARGET: auth.process.target }, healthService: 'chat.v1.ChatService', readyTimeoutMs: 90_000 });
  }, 200_000);

  afterAll(async () => {
    for (const stream of streams) stream.call.cancel();
    closeAllChannels();
    await chat?.stop();
    await auth?.stop();
  });

  function open(as: 'ada' | 'bob', user: string): ChatStream {
    const client = new chatV1.ChatServiceClient(chat?.target ?? '', grpc.credentials.createInsecure());
    const stream = new ChatStream(client.chat(auth?.users[as].metadata ?? new grpc.Metadata()));
    streams.push(stream);
    stream.join('ids', user);
    return stream;
  }

  it('makes the token subject the member; an empty user means it, another one is PERMISSION_DENIED', async () => {
    const [ada, bob] = [auth?.users['ada'].id ?? '', auth?.users['bob'].id ?? ''];
    expect(ada).not.toBe('');
    const adaStream = open('ada', '');
    await adaStream.waitForPresence(ada, JOINED);

    const impostor = open('bob', ada);
    expect(await impostor.ended).toEqual({ code: grpc.status.PERMISSION_DENIED, details: `join.user: must be empty or your own user id ${JSON.stringify(bob)}` });

    const bobStream = open('bob', bob);
    await bobStream.waitForPresence(bob, JOINED);
    await adaStream.waitForPresence(bob, JOINED);
    expect(adaStream.summary()).toEqual([`1 joined ${ada} [${ada}]`, `2 joined ${bob} [${[ada, bob].sort().join(',')}]`]);

    // Without a token the auth interceptor answers first, whatever the mode.
    const anonymous = new ChatStream(new chatV1.ChatServiceClient(chat?.target ?? '', grpc.credentials.createInsecure()).chat());
    anonymous.join('ids', 'anyone');
    expect(await anonymous.ended).toEqual({ code: grpc.status.UNAUTHENTICATED, details: 'missing bearer token' });
  }, 60_000);
});
