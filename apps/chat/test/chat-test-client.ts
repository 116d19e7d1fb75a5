// Test helpers: a Chat stream driven from a test, recording every event and the final status.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { chatV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { Writable } from 'node:stream';
import { createChatService, type ChatService, type ChatServiceOptions } from '../src/chat-service.js';

const { PresenceKind } = chatV1;

/** Final status of a stream as the client saw it. */
export interface EndStatus {
  code: grpc.status;
  details: string;
}

/** One client's Chat stream: what it sent, what it received, how it ended. */
export class ChatStream {
  readonly events: chatV1.ChatResponse[] = [];
  /** Resolves with the final status (OK included) when the stream ends. */
  readonly ended: Promise<EndStatus>;
  private readonly waiters = new Set<() => void>();
  private status: EndStatus | undefined;

  constructor(readonly call: grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>) {
    call.on('data', (event: chatV1.ChatResponse) => {
      this.events.push(event);
      this.notify();
    });
    call.on('error', () => undefined); // the status event below carries it
    this.ended = new Promise((resolve) =>
      call.on('status', (st: grpc.StatusObject) => {
        this.status = { code: st.code, details: st.details };
        resolve(this.status);
        this.notify();
      }),
    );
  }

  join(room: string, user: string): void {
    this.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user } } }));
  }

  send(text: string): void {
    this.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } }));
  }

  /** Resolves with the first received event matching `match`, waiting for it if needed. */
  waitFor(match: (event: chatV1.ChatResponse) => boolean, what: string, timeoutMs = 30_000): Promise<chatV1.ChatResponse> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(match);
        if (found) return done(() => resolve(found));
        const ended = this.status;
        if (ended) return done(() => reject(new Error(`stream ended (${grpc.status[ended.code]} ${ended.details}) before ${what}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}; got ${describe(this.events)}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for the message `text` (from anyone). */
  waitForMessage(text: string): Promise<chatV1.ChatResponse> {
    return this.waitFor((e) => e.event?.$case === 'message' && e.event.message.text === text, `message ${JSON.stringify(text)}`);
  }

  /** Waits for a presence event of `user` of the given kind. */
  waitForPresence(user: string, kind: chatV1.PresenceKind): Promise<chatV1.ChatResponse> {
    return this.waitFor(
      (e) => e.event?.$case === 'presence' && e.event.presence.user === user && e.event.presence.kind === kind,
      `${PresenceKind[kind]} of ${user}`,
    );
  }

  /** Sequence numbers received, as numbers. */
  sequences(): number[] {
    return this.events.map((e) => Number(e.sequence));
  }

  /** Events in a compact, comparable form: "3 msg bob: hi", "4 left carol [alice,bob]". */
  summary(): string[] {
    return this.events.map(summarize);
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Compact form of one event (see {@link ChatStream.summary}). */
export function summarize(e: chatV1.ChatResponse): string {
  if (e.event?.$case === 'message') return `${e.sequence} msg ${e.event.message.user}: ${e.event.message.text}`;
  if (e.event?.$case === 'presence') {
    const kind = e.event.presence.kind === PresenceKind.PRESENCE_KIND_JOINED ? 'joined' : e.event.presence.kind === PresenceKind.PRESENCE_KIND_LEFT ? 'left' : 'presence?';
    return `${e.sequence} ${kind} ${e.event.presence.user} [${e.event.presence.members.join(',')}]`;
  }
  return `${e.sequence} ?`;
}

function describe(events: chatV1.ChatResponse[]): string {
  const tail = events.slice(-5).map(summarize);
  return `${events.length} events${tail.length ? `, last: ${tail.join(' | ')}` : ''}`;
}

/** Opens a Chat stream on its own channel (its own connection) to the server. */
export function openStream(server: TestServer, options: Partial<grpc.CallOptions> = {}): ChatStream {
  const client = server.client(chatV1.ChatServiceClient);
  return new ChatStream(client.chat(options));
}

/** Opens a stream, joins `room` as `user` and waits for the user's own JOINED. */
export async function joined(server: TestServer, room: string, user: string, options: Partial<grpc.CallOptions> = {}): Promise<ChatStream> {
  const stream = openStream(server, options);
  stream.join(room, user);
  await stream.waitForPresence(user, PresenceKind.PRESENCE_KIND_JOINED);
  return stream;
}

/** Ends a stream from the client (half-close) and waits for its status. */
export async function halfClose(stream: ChatStream): Promise<EndStatus> {
  stream.call.end();
  return stream.ended;
}

/** A chat service on a test server, with the service's own log lines captured. */
export interface ChatTestServer {
  server: TestServer;
  service: ChatService;
  /** JSON log lines of the chat service (joins, leaves, slow clients). */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Starts the chat service as main.ts builds it, with default limits unless overridden. The test
 * server has no auth interceptor (no caller, so no token subject): members are named by the
 * JoinRoom (`identity: 'name'`) unless a test overrides it; identity.e2e.spec.ts runs the
 * default (`token`) against the real auth.
 */
export async function startChatServer(overrides: Partial<ChatServiceOptions> = {}): Promise<ChatTestServer> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ service: 'chat', destination });
  const service = await createChatService({ logger, maxPendingEvents: 1_000, maxRoomMembers: 1_000, identity: 'name', ...overrides });
  const server = await startTestServer({ services: [service.registration], afterStop: [service.close] });
  return {
    server,
    service,
    logs,
    async close() {
      await server.close();
      closeAllChannels();
    },
  };
}
