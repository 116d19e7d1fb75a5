/**
 * What every command gets: where to write, the environment, and the clients for the targets
 * chosen by the global options. Injected so tests run commands in process and read the output.
 */
import type { Env } from '@grpc-patterns/config';
import { channelCredentialsFromFiles, setDefaultChannelCredentials, unaryCall, type TlsMode } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { Option, type Command } from 'commander';
import { Clients, DEFAULT_DEADLINES } from './clients.js';
import { resolveTargets, resolveTls, type TargetOptions, type TlsOptions } from './config.js';
import { CliError } from './errors.js';
import type { Writer } from './format.js';
import { readSecret } from './prompt.js';

/** Environment variable holding the access token (`--token` wins). */
export const TOKEN_VARIABLE = 'GRPC_PATTERNS_TOKEN';
/** Environment variable holding the password (`--password` wins). */
export const PASSWORD_VARIABLE = 'GRPC_PATTERNS_PASSWORD';

/** What a command that needs a token and has none says (one line, how to get one). */
export const NO_TOKEN_MESSAGE =
  `no access token: run \`export ${TOKEN_VARIABLE}=$(grpc-patterns login --username <name> --print-token)\`, ` +
  'or pass --token <jwt>, or --username <name> --password <password> to log in first';

/** The process around a command. */
export interface CliContext {
  out: Writer;
  err: Writer;
  env: Env;
  /** Lines for `chat`. */
  stdin: NodeJS.ReadableStream;
  /** stdout is a terminal (tables vs. plain lines does not depend on it; the progress bar does). */
  outIsTTY: boolean;
  /** stderr is a terminal: progress bars are drawn only then. */
  errIsTTY: boolean;
  /** The stream progress bars draw on (process.stderr). */
  errStream?: NodeJS.WriteStream;
  /** Asks for a secret on the terminal without echo; absent when stdin is not a terminal. */
  readSecret?: (prompt: string) => Promise<string>;
}

/** The real process: stdout, stderr, stdin and process.env. */
export function processContext(): CliContext {
  return {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    stdin: process.stdin,
    outIsTTY: process.stdout.isTTY === true,
    errIsTTY: process.stderr.isTTY === true,
    errStream: process.stderr,
    readSecret: process.stdin.isTTY ? (prompt) => readSecret(prompt, process.stdin, process.stderr) : undefined,
  };
}

/**
 * The password of `options`, else {@link PASSWORD_VARIABLE}, else asked for on the terminal (never echoed).
 * @throws CliError when there is none and stdin is not a terminal (a script must pass one).
 */
export async function passwordFor(options: { password?: string }, ctx: Pick<CliContext, 'env' | 'readSecret'>): Promise<string> {
  const given = options.password ?? ctx.env[PASSWORD_VARIABLE];
  if (given) return given;
  if (!ctx.readSecret) throw new CliError(`no password: pass --password or set ${PASSWORD_VARIABLE} (on a terminal it is asked for)`);
  return ctx.readSecret('password: ');
}

/** Global options (see program.ts). */
export interface GlobalOptions extends TargetOptions, TlsOptions {
  deadlineMs?: number;
  streamDeadlineMs?: number;
  /** `--gzip`: compress request messages. */
  gzip?: boolean;
  /** Access token (`--token`); {@link TOKEN_VARIABLE} when not given. */
  token?: string;
}

/** `--username` / `--password` of a command that needs a token: log in with them first. */
export interface CredentialOptions {
  username?: string;
  password?: string;
}

/**
 * Adds `--username` and `--password` to a command that needs a token, as the alternative to
 * `--token`: the command logs in (auth.v1.AuthService/Login) and uses the token it gets.
 */
export function addCredentialOptions(command: Command): Command {
  return command
    .addOption(new Option('--username <name>', 'log in as this user first, instead of --token'))
    .addOption(new Option('--password <password>', `password for --username (env ${PASSWORD_VARIABLE})`));
}

/**
 * Clients for the targets of the command's global options and the environment.
 *
 * @throws ConfigError naming the bad target variable/option.
 */
export function clientsFor(command: Command, ctx: CliContext): Clients {
  const options = command.optsWithGlobals<GlobalOptions>();
  const targets = resolveTargets(options, ctx.env);
  return new Clients(targets, {
    unaryMs: options.deadlineMs ?? DEFAULT_DEADLINES.unaryMs,
    streamMs: options.streamDeadlineMs ?? DEFAULT_DEADLINES.streamMs,
  }, undefined, options.gzip === true);
}

/**
 * Clients whose calls carry an access token: `--username` logs in first, else `--token`, else GRPC_PATTERNS_TOKEN
 * (README "Access tokens"); none fails before any call with {@link NO_TOKEN_MESSAGE}.
 * @throws ConfigError (bad target), CliError (no token, or conflicting/incomplete credentials), grpc.ServiceError from Login.
 */
export async function authenticatedClientsFor(command: Command, ctx: CliContext): Promise<Clients> {
  const clients = clientsFor(command, ctx);
  const options = command.optsWithGlobals<GlobalOptions & CredentialOptions>();
  const token = options.token || ctx.env[TOKEN_VARIABLE] || undefined;
  if (options.username !== undefined) {
    if (options.token) throw new CliError('give either --token or --username/--password, not both');
    const password = options.password ?? ctx.env[PASSWORD_VARIABLE] ?? (ctx.readSecret ? await ctx.readSecret('password: ') : undefined);
    if (!password) throw new CliError(`--username needs --password (or ${PASSWORD_VARIABLE}; on a terminal it is asked for)`);
    const auth = clients.auth;
    const login = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username: options.username, password }), { deadline: clients.unaryDeadline() });
    const accessToken = login.tokens?.accessToken;
    if (!accessToken) throw new CliError('Login returned no access token');
    clients.useToken(accessToken, login.user?.id);
    return clients;
  }
  if (options.password !== undefined) throw new CliError('--password needs --username');
  if (!token) throw new CliError(NO_TOKEN_MESSAGE);
  clients.useToken(token);
  return clients;
}

/**
 * Makes the command's TLS settings ({@link resolveTls}) grpc-kit's default credentials for every channel it
 * opens (program.ts runs it before each action); plaintext without any, and returns the mode in force.
 * @throws ConfigError naming the bad variable/option (exit 78).
 */
export function useTlsFor(command: Command, ctx: CliContext): TlsMode {
  const files = resolveTls(command.optsWithGlobals<GlobalOptions>(), ctx.env);
  setDefaultChannelCredentials(files.mode === 'off' ? undefined : channelCredentialsFromFiles(files));
  return files.mode;
}
