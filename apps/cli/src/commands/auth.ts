/**
 * `register` and `login`: the unary pattern. One request, one response, a deadline on each call,
 * and failures as status codes (ALREADY_EXISTS, UNAUTHENTICATED, INVALID_ARGUMENT naming the
 * field).
 */
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { Command, Option } from 'commander';
import type { Clients } from '../clients.js';
import { clientsFor, passwordFor, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatExpiry, formatUser } from '../format.js';

/** Options of `login`. */
export interface LoginOptions {
  username: string;
  /** Asked for on a terminal when not given (passwordFor). */
  password: string;
  json?: boolean;
  /** Print only the access token (`export GRPC_PATTERNS_TOKEN=$(grpc-patterns login ... --print-token)`). */
  printToken?: boolean;
}

/** Options of `register`. */
export interface RegisterOptions extends Omit<LoginOptions, 'printToken'> {
  displayName?: string;
}

// The password may come from the environment so it stays out of shell history and `ps`.
// Without either, a terminal is asked for it (not echoed); a script without one fails at once.
const passwordOption = () => new Option('--password <password>', 'password (at least 8 characters; asked for on a terminal when not given)').env('GRPC_PATTERNS_PASSWORD');
const usernameOption = () => new Option('--username <name>', 'login name: 3-32 characters of [a-z0-9_.-]').makeOptionMandatory();

/**
 * Register: prints the new user, or with `json` the RegisterResponse as JSON.
 *
 * @throws grpc.ServiceError ALREADY_EXISTS (username taken), INVALID_ARGUMENT (a bad field).
 */
export async function runRegister(clients: Clients, options: RegisterOptions, ctx: Pick<CliContext, 'out'>): Promise<authV1.RegisterResponse> {
  const auth = clients.auth;
  const response = await unaryCall(
    auth.register.bind(auth),
    authV1.RegisterRequest.fromPartial({ username: options.username, password: options.password, displayName: options.displayName ?? '' }),
    { deadline: clients.unaryDeadline() },
  );
  if (options.json) ctx.out.write(JSON.stringify(authV1.RegisterResponse.toJSON(response)) + '\n');
  else ctx.out.write(`registered ${formatUser(response.user)}\n`);
  return response;
}

/**
 * Login: prints the user and when the access token expires; `json`: the LoginResponse, tokens included;
 * `printToken`: only the access token and a newline (README "Access tokens").
 * @throws grpc.ServiceError UNAUTHENTICATED (unknown user or wrong password, same message).
 */
export async function runLogin(clients: Clients, options: LoginOptions, ctx: Pick<CliContext, 'out'>, now: () => Date = () => new Date()): Promise<authV1.LoginResponse> {
  const auth = clients.auth;
  const response = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username: options.username, password: options.password }), {
    deadline: clients.unaryDeadline(),
  });
  if (options.printToken) {
    if (!response.tokens?.accessToken) throw new CliError('Login returned no access token');
    ctx.out.write(response.tokens.accessToken + '\n');
  } else if (options.json) {
    ctx.out.write(JSON.stringify(authV1.LoginResponse.toJSON(response)) + '\n');
  } else {
    ctx.out.write(`logged in as ${formatUser(response.user)}\n`);
    ctx.out.write(`access token (${response.tokens?.tokenType || 'Bearer'}) expires ${formatExpiry(response.tokens?.accessTokenExpireTime, now())}\n`);
  }
  return response;
}

/** The `register` command. */
export function registerCommand(ctx: CliContext): Command {
  return new Command('register')
    .description('create a user (auth.v1.AuthService/Register, unary)')
    .addOption(usernameOption())
    .addOption(passwordOption())
    .option('--display-name <name>', 'shown to other users; default the username')
    .option('--json', 'print the response as JSON')
    .action(async (options: RegisterOptions, command: Command) => {
      await runRegister(clientsFor(command, ctx), { ...options, password: await passwordFor(options, ctx) }, ctx);
    });
}

/** The `login` command. */
export function loginCommand(ctx: CliContext): Command {
  return new Command('login')
    .description('log in and show the token expiry, or print the token (auth.v1.AuthService/Login, unary)')
    .addOption(usernameOption())
    .addOption(passwordOption())
    .addOption(new Option('--json', 'print the response as JSON, tokens included').conflicts('printToken'))
    .addOption(new Option('--print-token', 'print only the access token (export GRPC_PATTERNS_TOKEN=$(... --print-token))'))
    .action(async (options: LoginOptions, command: Command) => {
      await runLogin(clientsFor(command, ctx), { ...options, password: await passwordFor(options, ctx) }, ctx);
    });
}
