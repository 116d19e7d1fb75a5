/**
 * The remaining unary methods, one subcommand each, so every method the services expose can be
 * called from the CLI: `refresh` (auth Refresh), `get-user` (auth GetUser), `public-keys` (auth
 * GetPublicKeys, the JWKS), `get-order` and `list-orders` (orders GetOrder, ListOrders). Each
 * prints a readable line or table, or with `--json` the response message as JSON.
 */
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { Command, Option } from 'commander';
import { integer, nonEmpty } from '../args.js';
import { addCredentialOptions, authenticatedClientsFor, clientsFor, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatExpiry, formatOrder, formatUser } from '../format.js';

/** "1 order", "2 orders": `count` and `noun`, plural unless count is 1. */
export function plural(count: number | string, noun: string, nouns = `${noun}s`): string {
  return `${count} ${Number(count) === 1 ? noun : nouns}`;
}

interface JsonOption {
  json?: boolean;
}

/** The `refresh` command: a new token pair for a refresh token (no access token needed). */
export function refreshCommand(ctx: CliContext): Command {
  return new Command('refresh')
    .description('exchange a refresh token for a new token pair (auth.v1.AuthService/Refresh, unary)')
    .addOption(new Option('--refresh-token <token>', 'the refresh token Login or an earlier Refresh returned').env('GRPC_PATTERNS_REFRESH_TOKEN').makeOptionMandatory())
    .addOption(new Option('--json', 'print the response as JSON, tokens included').conflicts('printToken'))
    .option('--print-token', 'print only the new access token')
    .action(async (options: JsonOption & { refreshToken: string; printToken?: boolean }, command: Command) => {
      const clients = clientsFor(command, ctx);
      const auth = clients.auth;
      const response = await unaryCall(auth.refresh.bind(auth), authV1.RefreshRequest.fromPartial({ refreshToken: options.refreshToken }), { deadline: clients.unaryDeadline() });
      if (options.json) return void ctx.out.write(JSON.stringify(authV1.RefreshResponse.toJSON(response)) + '\n');
      if (!response.tokens?.accessToken) throw new CliError('Refresh returned no access token');
      if (options.printToken) return void ctx.out.write(response.tokens.accessToken + '\n');
      ctx.out.write(`new access token (${response.tokens.tokenType || 'Bearer'}) expires ${formatExpiry(response.tokens.accessTokenExpireTime, new Date())}\n`);
    });
}

/** The `get-user` command. */
export function getUserCommand(ctx: CliContext): Command {
  const cmd = new Command('get-user')
    .description('look up a user by id (auth.v1.AuthService/GetUser, unary; needs a token)')
    .option('--user-id <id>', 'the user (default: the logged-in user)', nonEmpty)
    .option('--json', 'print the response as JSON')
    .action(async (options: JsonOption & { userId?: string }, command: Command) => {
      const clients = await authenticatedClientsFor(command, ctx);
      const userId = options.userId ?? clients.userId;
      if (!userId) throw new CliError('no --user-id given and the access token names no user (sub): pass --user-id');
      const auth = clients.auth;
      const response = await unaryCall(auth.getUser.bind(auth), authV1.GetUserRequest.fromPartial({ userId }), { deadline: clients.unaryDeadline() });
      ctx.out.write(options.json ? JSON.stringify(authV1.GetUserResponse.toJSON(response)) + '\n' : formatUser(response.user) + '\n');
    });
  return addCredentialOptions(cmd);
}

/** The `public-keys` command: auth's JWKS, what every service verifies access tokens with. */
export function publicKeysCommand(ctx: CliContext): Command {
  return new Command('public-keys')
    .description('list the keys access tokens are signed with (auth.v1.AuthService/GetPublicKeys, unary)')
    .option('--json', 'print the response as JSON (a JWKS plus issuer and audience)')
    .action(async (options: JsonOption, command: Command) => {
      const clients = clientsFor(command, ctx);
      const auth = clients.auth;
      const response = await unaryCall(auth.getPublicKeys.bind(auth), authV1.GetPublicKeysRequest.fromPartial({}), { deadline: clients.unaryDeadline() });
      if (options.json) return void ctx.out.write(JSON.stringify(authV1.GetPublicKeysResponse.toJSON(response)) + '\n');
      ctx.out.write(`${plural(response.keys.length, 'key')} (issuer ${response.issuer}, audience ${response.audience})\n`);
      for (const k of response.keys) ctx.out.write(`  ${k.kid}  ${k.kty} ${k.crv} ${k.alg} use=${k.use}\n`);
    });
}

/** The `get-order` command. */
export function getOrderCommand(ctx: CliContext): Command {
  const cmd = new Command('get-order')
    .description('show one order (orders.v1.OrderService/GetOrder, unary; needs a token)')
    .requiredOption('--order-id <id>', 'the order, as PlaceOrder returned it', nonEmpty)
    .option('--json', 'print the response as JSON')
    .action(async (options: JsonOption & { orderId: string }, command: Command) => {
      const clients = await authenticatedClientsFor(command, ctx);
      const orders = clients.orders;
      const response = await unaryCall(orders.getOrder.bind(orders), ordersV1.GetOrderRequest.fromPartial({ orderId: options.orderId }), { deadline: clients.unaryDeadline() });
      ctx.out.write(options.json ? JSON.stringify(ordersV1.GetOrderResponse.toJSON(response)) + '\n' : formatOrder(response.order, false) + '\n');
    });
  return addCredentialOptions(cmd);
}

/** The `list-orders` command: one page, and the token of the next. */
export function listOrdersCommand(ctx: CliContext): Command {
  const cmd = new Command('list-orders')
    .description('list a user\'s orders, a page at a time (orders.v1.OrderService/ListOrders, unary; needs a token)')
    .option('--user-id <id>', 'whose orders (default: the logged-in user)', nonEmpty)
    .option('--page-size <n>', 'orders per page, 0..1000 (0: the server default)', integer(0, 1000), 0)
    .option('--page-token <token>', 'the next_page_token of the previous page')
    .option('--json', 'print the response as JSON')
    .action(async (options: JsonOption & { userId?: string; pageSize: number; pageToken?: string }, command: Command) => {
      const clients = await authenticatedClientsFor(command, ctx);
      const userId = options.userId ?? clients.userId;
      if (!userId) throw new CliError('no --user-id given and the access token names no user (sub): pass --user-id');
      const orders = clients.orders;
      const request = ordersV1.ListOrdersRequest.fromPartial({ userId, pageSize: options.pageSize, pageToken: options.pageToken ?? '' });
      const response = await unaryCall(orders.listOrders.bind(orders), request, { deadline: clients.unaryDeadline() });
      if (options.json) return void ctx.out.write(JSON.stringify(ordersV1.ListOrdersResponse.toJSON(response)) + '\n');
      for (const order of response.orders) ctx.out.write(formatOrder(order, false) + '\n');
      ctx.out.write(`${plural(response.orders.length, 'order')}${response.nextPageToken ? `; next page: --page-token ${response.nextPageToken}` : ''}\n`);
    });
  return addCredentialOptions(cmd);
}
