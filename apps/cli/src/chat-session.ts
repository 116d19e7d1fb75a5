/**
 * One user's bidirectional Chat stream, as a small object: join on open, send(), leave() (a
 * half-close: the client is done sending, the server answers with the LEFT presence and ends
 * the stream), the events seen so far, and waitFor() to await a given event.
 */
import type * as grpc from '@grpc/grpc-js';
import { chatV1 } from '@grpc-patterns/proto';

/** Options of {@link ChatSession.open}. */
export interface ChatSessionOptions {
  /** Absolute deadline of the whole stream; default none (an interactive chat lives as long as the user). */
  deadline?: Date;
  /** Called for every event, in arrival order. */
  onEvent?: (event: chatV1.ChatResponse) => void;
}

/** A joined chat stream. */
export class ChatSession {
  /** Every event received, in order. */
  readonly events: chatV1.ChatResponse[] = [];
  /** Resolves when the server ends the stream OK; rejects with its error status otherwise. */
  readonly ended: Promise<void>;
  private waiters = new Set<() => void>();
  private finished = false;
  private failure: Error | undefined;

  private constructor(
    readonly call: grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>,
    readonly room: string,
    readonly user: string,
    onEvent?: (event: chatV1.ChatResponse) => void,
  ) {
    this.ended = new Promise<void>((resolve, reject) => {
      call.on('data', (event: chatV1.ChatResponse) => {
        this.events.push(event);
        onEvent?.(event);
        this.wake();
      });
      call.on('error', (error) => {
        this.finished = true;
        this.failure = error;
        this.wake();
        reject(error);
      });
      call.on('end', () => {
        this.finished = true;
        this.wake();
        resolve();
      });
    });
    // Callers that never await `ended` must not crash the process with an unhandled rejection.
    this.ended.catch(() => undefined);
  }

  /** Opens the stream and sends the JoinRoom that must come first. */
  static open(client: chatV1.ChatServiceClient, room: string, user: string, options: ChatSessionOptions = {}): ChatSession {
    const call = client.chat(options.deadline ? { deadline: options.deadline } : {});
    const session = new ChatSession(call, room, user, options.onEvent);
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room, user } } }));
    return session;
  }

  /** Sends one message (1-4096 characters; the server checks). */
  send(text: string): void {
    this.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } }));
  }

  /** Half-closes: no more messages from this user. Resolves when the server ends the stream. */
  async leave(): Promise<void> {
    this.call.end();
    await this.ended;
  }

  /**
   * The first event (already received or still to come) for which `match` is true.
   *
   * @throws Error after `timeoutMs`, or the stream's status if it ends first.
   */
  async waitFor(match: (e: chatV1.ChatResponse) => boolean, what: string, timeoutMs: number): Promise<chatV1.ChatResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (this.failure) throw this.failure;
      if (this.finished) throw new Error(`${this.user}: stream ended before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.user}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/** True for a presence event of `user` of the given kind. */
export function isPresence(e: chatV1.ChatResponse, user: string, kind: chatV1.PresenceKind): boolean {
  return e.event?.$case === 'presence' && e.event.presence.user === user && e.event.presence.kind === kind;
}

/** True for a message event from `user` with `text`. */
export function isMessage(e: chatV1.ChatResponse, user: string, text: string): boolean {
  return e.event?.$case === 'message' && e.event.message.user === user && e.event.message.text === text;
}

/** `#3 12:00:01 alice: hello` / `#1 12:00:00 * alice joined (members: alice, bob)`. */
export function formatChatEvent(e: chatV1.ChatResponse): string {
  const time = e.time ? e.time.toISOString().slice(11, 19) : '--:--:--';
  const head = `#${e.sequence} ${time}`;
  switch (e.event?.$case) {
    case 'message':
      return `${head} ${e.event.message.user}: ${e.event.message.text}`;
    case 'presence': {
      const p = e.event.presence;
      const verb = p.kind === chatV1.PresenceKind.PRESENCE_KIND_JOINED ? 'joined' : p.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT ? 'left' : 'changed presence';
      return `${head} * ${p.user} ${verb} (members: ${p.members.join(', ') || 'none'})`;
    }
    default:
      return `${head} (unknown event)`;
  }
}
