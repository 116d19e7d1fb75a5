/** Tour step 4. chat, bidi streaming (what it checks: tour.ts). */
import * as grpc from '@grpc/grpc-js';
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1, chatV1 } from '@grpc-patterns/proto';
import { randomBytes } from 'node:crypto';
import { isMessage, isPresence, ChatSession } from './chat-session.js';
import { Clients } from './clients.js';
import { indent } from './format.js';
import { type StepTools, type TourState, MISSING_TOKEN_MESSAGE } from './tour-step.js';

/** What an event looks like in both users' views (time left out: it is the server's, same for both). */
function eventKey(e: chatV1.ChatResponse): string {
  if (e.event?.$case === 'message') return `#${e.sequence} ${e.event.message.user}: ${e.event.message.text}`;
  if (e.event?.$case === 'presence') return `#${e.sequence} ${e.event.presence.user} ${chatV1.presenceKindToJSON(e.event.presence.kind)} [${e.event.presence.members.join(',')}]`;
  return `#${e.sequence} ?`;
}

function increasing(events: chatV1.ChatResponse[]): boolean {
  return events.every((e, i) => i === 0 || BigInt(e.sequence) > BigInt(events[i - 1].sequence));
}

export async function chatStep(clients: Clients, t: StepTools, runId: string, waitMs: number, state: TourState): Promise<string> {
  const room = `tour-${runId}`;
  const JOINED = chatV1.PresenceKind.PRESENCE_KIND_JOINED;
  const LEFT = chatV1.PresenceKind.PRESENCE_KIND_LEFT;
  // Two accounts: chat names each member after its access token (CHAT_IDENTITY=token, its
  // default), so one token cannot be two members. The first is step 1's user.
  const first = state.user;
  t.check(!!first?.id && clients.userId === first.id, 'a first account: the one logged in in step 1', 'step 1 logged in no user');
  const auth = clients.auth;
  const bobName = `bob_${runId}`.toLowerCase().slice(0, 32);
  const bobPassword = randomBytes(12).toString('base64url');
  await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: bobName, password: bobPassword }), { deadline: clients.unaryDeadline() });
  const bobLogin = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username: bobName, password: bobPassword }), { deadline: clients.unaryDeadline() });
  const bobClients = new Clients(clients.targets, clients.deadlines);
  bobClients.useToken(bobLogin.tokens?.accessToken ?? '', bobLogin.user?.id);
  // Member names are the user ids; the usernames are for the reader.
  const [alice, bob] = [first?.id ?? '', bobLogin.user?.id ?? ''];
  const aliceName = first?.username ?? '';
  t.check(bob !== '' && bob !== alice, `a second account: ${bobName} registered and logged in (id ${bob})`);
  // Bidi streams get a deadline too: the whole conversation must be over in 30 s.
  const deadline = new Date(Date.now() + 30_000);
  const a = ChatSession.open(clients.chat, room, '', { deadline });
  let b: ChatSession | undefined;
  try {
    await a.waitFor((e) => isPresence(e, alice, JOINED), `${aliceName}'s own join`, waitMs);
    t.check(true, `${aliceName} joined ${room} with an empty user: the member is her token's user id ${alice}`);
    const impostor = ChatSession.open(bobClients.chat, room, alice, { deadline });
    try {
      await t.expectCode(impostor.ended, grpc.status.PERMISSION_DENIED, `${bobName} joining as ${aliceName}'s id`, `join.user: must be empty or your own user id ${JSON.stringify(bob)}`);
    } finally {
      impostor.call.cancel();
    }
    b = ChatSession.open(bobClients.chat, room, '', { deadline });
    const bobJoinedB = await b.waitFor((e) => isPresence(e, bob, JOINED), `${bobName}'s own join`, waitMs);
    const bobJoinedA = await a.waitFor((e) => isPresence(e, bob, JOINED), `${bobName}'s join`, waitMs);
    t.check(bobJoinedA.sequence === bobJoinedB.sequence, `both see ${bobName} join as #${bobJoinedA.sequence}`, `${aliceName} saw #${bobJoinedA.sequence}, ${bobName} #${bobJoinedB.sequence}`);
    const members = bobJoinedA.event?.$case === 'presence' ? bobJoinedA.event.presence.members : [];
    t.check(members.includes(alice) && members.includes(bob), `presence lists both members [${members.join(', ')}]`);

    const fromAlice = `hello from ${aliceName}`;
    const fromBob = `hi ${aliceName}, ${bobName} here`;
    a.send(fromAlice);
    b.send(fromBob);
    const last = Math.max(
      ...(await Promise.all([
        a.waitFor((e) => isMessage(e, alice, fromAlice), `${aliceName}'s message`, waitMs),
        a.waitFor((e) => isMessage(e, bob, fromBob), `${bobName}'s message`, waitMs),
        b.waitFor((e) => isMessage(e, alice, fromAlice), `${aliceName}'s message`, waitMs),
        b.waitFor((e) => isMessage(e, bob, fromBob), `${bobName}'s message`, waitMs),
      ]).then((events) => events.map((e) => Number(e.sequence)))),
    );
    t.check(true, `each sees the other's message`);
    const since = Number(bobJoinedA.sequence);
    const viewA = a.events.filter((e) => Number(e.sequence) >= since && Number(e.sequence) <= last).map(eventKey);
    const viewB = b.events.filter((e) => Number(e.sequence) >= since && Number(e.sequence) <= last).map(eventKey);
    t.log(`${aliceName} saw:\n${indent(viewA.join('\n'), '  ')}`);
    t.check(viewA.join('\n') === viewB.join('\n'), `both saw the same ${viewA.length} events in the same sequence order (#${since}..#${last})`, `${bobName} saw ${viewB.join(' | ')}`);
    t.check(increasing(a.events) && increasing(b.events), 'sequence numbers strictly increase in each stream');

    await b.leave();
    t.check(true, `${bobName} half-closed and the server ended his stream OK`);
    const left = await a.waitFor((e) => isPresence(e, bob, LEFT), `${bobName}'s leave`, waitMs);
    const after = left.event?.$case === 'presence' ? left.event.presence.members : [];
    t.check(!after.includes(bob) && after.includes(alice), `${aliceName} sees ${bobName} leave as #${left.sequence} (members now [${after.join(', ')}])`);
    await a.leave();
    const anonymous = ChatSession.open(state.anonymous.chat, room, `nobody-${runId}`, { deadline });
    try {
      await t.expectCode(anonymous.ended, grpc.status.UNAUTHENTICATED, 'Chat without a token', MISSING_TOKEN_MESSAGE);
    } finally {
      anonymous.call.cancel();
    }
    return `2 users saw the same ${viewA.length} events (#${since}..#${last}); leave seen as #${left.sequence}; no token UNAUTHENTICATED`;
  } finally {
    // On any failure, do not leave streams open (they would keep the process alive).
    a.call.cancel();
    b?.call.cancel();
  }
}
