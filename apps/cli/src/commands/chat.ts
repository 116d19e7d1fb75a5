/**
 * `chat`: the bidirectional-streaming pattern, interactively. Each stdin line is sent as a
 * message while the room's events print as they come; end of input (Ctrl-D) or Ctrl-C
 * half-closes the stream, the server announces the leave and ends it.
 */
import { Command } from 'commander';
import { createInterface } from 'node:readline';
import { nonEmpty } from '../args.js';
import type { Clients } from '../clients.js';
import { ChatSession, formatChatEvent } from '../chat-session.js';
import { addCredentialOptions, authenticatedClientsFor, type CliContext } from '../context.js';

/** Options of `chat`. */
export interface ChatOptions {
  room: string;
  /** Member name; '' means the token's user (what chat's default CHAT_IDENTITY=token accepts). */
  user: string;
}

/**
 * Joins `room` as `user`, sends stdin lines and prints events until the stream ends, with no deadline
 * (README "Explanation: A deadline on every call"); returns the number of events printed.
 * @throws grpc.ServiceError INVALID_ARGUMENT, PERMISSION_DENIED (a `user` not the token's), UNAVAILABLE.
 */
export async function runChat(clients: Clients, options: ChatOptions, ctx: Pick<CliContext, 'out' | 'stdin'>): Promise<number> {
  const session = ChatSession.open(clients.chat, options.room, options.user, {
    onEvent: (e) => ctx.out.write(formatChatEvent(e) + '\n'),
  });
  const lines = createInterface({ input: ctx.stdin, crlfDelay: Infinity, terminal: false });
  let leaving = false;
  const leave = () => {
    if (leaving) return;
    leaving = true;
    session.call.end();
  };
  lines.on('line', (line) => {
    if (!leaving && line.trim() !== '') session.send(line);
  });
  lines.on('close', leave);
  process.once('SIGINT', leave);
  try {
    await session.ended;
  } finally {
    process.off('SIGINT', leave);
    lines.close();
  }
  return session.events.length;
}

/** The `chat` command. */
export function chatCommand(ctx: CliContext): Command {
  const cmd = new Command('chat')
    .description('join a room: stdin lines are messages, room events are printed (chat.v1.ChatService/Chat, bidi streaming)')
    .requiredOption('--room <name>', 'room: 1-64 characters of [a-zA-Z0-9_.-]', nonEmpty)
    .option('--user <name>', "member name; leave it out to be the user your token names (chat's default CHAT_IDENTITY=token); any other name only on a CHAT_IDENTITY=name server", '')
    .action(async (options: ChatOptions, command: Command) => {
      await runChat(await authenticatedClientsFor(command, ctx), options, ctx);
    });
  return addCredentialOptions(cmd);
}
