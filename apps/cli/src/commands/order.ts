/**
 * `order`: idempotent unary. The request id is the idempotency key: sending the same command
 * again (same --request-id) returns the order placed the first time, marked by the response
 * header `idempotent-replayed: true`, instead of placing a second one.
 */
import { unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { ordersV1 } from '@grpc-patterns/proto';
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { integer, nonEmpty } from '../args.js';
import type { Clients } from '../clients.js';
import { addCredentialOptions, authenticatedClientsFor, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { formatOrder } from '../format.js';

/** The response header orders sets on a replayed PlaceOrder (see proto/orders/v1/orders.proto). */
export const REPLAYED_HEADER = 'idempotent-replayed';

/** Options of `order`. */
export interface OrderOptions {
  /** Default: the user the access token belongs to (orders lets a user order only for themselves). */
  userId?: string;
  sku: string;
  quantity: number;
  priceCents: number;
  currency?: string;
  /** Default: a new UUID (printed, so the call can be retried with it). */
  requestId?: string;
  json?: boolean;
}

/** A placed (or replayed) order. */
export interface PlacedOrder {
  order: ordersV1.Order | undefined;
  replayed: boolean;
  requestId: string;
}

/** The PlaceOrderRequest for one line item. */
export function placeOrderRequest(options: OrderOptions & { userId: string; requestId: string }): ordersV1.PlaceOrderRequest {
  return ordersV1.PlaceOrderRequest.fromPartial({
    requestId: options.requestId,
    userId: options.userId,
    items: [{ sku: options.sku, quantity: options.quantity, unitPriceCents: String(options.priceCents) }],
    currency: options.currency ?? '',
  });
}

/**
 * One PlaceOrder call; `replayed` is read from the response headers.
 * @throws grpc.ServiceError FAILED_PRECONDITION (key used for a different request), PERMISSION_DENIED (another
 * user's user_id), UNAUTHENTICATED (no or a bad token), INVALID_ARGUMENT (a bad field).
 */
export async function placeOrder(clients: Clients, request: ordersV1.PlaceOrderRequest): Promise<PlacedOrder> {
  const orders = clients.orders;
  const { response, headers } = await unaryCallDetailed(orders.placeOrder.bind(orders), request, { deadline: clients.unaryDeadline() });
  return { order: response.order, replayed: headers.get(REPLAYED_HEADER)[0] === 'true', requestId: request.requestId };
}

/**
 * Places the order of `options` (for `--user-id`, else the token's user) and prints it with whether it was replayed.
 * @throws CliError when no user id is given and the token names none.
 */
export async function runOrder(clients: Clients, options: OrderOptions, ctx: Pick<CliContext, 'out'>): Promise<PlacedOrder> {
  const userId = options.userId ?? clients.userId;
  if (!userId) throw new CliError('no --user-id given and the access token names no user (sub): pass --user-id');
  const requestId = options.requestId ?? randomUUID();
  const placed = await placeOrder(clients, placeOrderRequest({ ...options, userId, requestId }));
  if (options.json) {
    ctx.out.write(JSON.stringify({ order: placed.order ? ordersV1.Order.toJSON(placed.order) : null, replayed: placed.replayed }) + '\n');
  } else {
    ctx.out.write(formatOrder(placed.order, placed.replayed) + '\n');
  }
  return placed;
}

/** The `order` command. */
export function orderCommand(ctx: CliContext): Command {
  const cmd = new Command('order')
    .description('place an order exactly once per request id (orders.v1.OrderService/PlaceOrder, idempotent unary)')
    .option('--user-id <id>', 'the user to order for (default: the logged-in user, the only one orders accepts unless you are an admin)', nonEmpty)
    .requiredOption('--sku <sku>', 'stock keeping unit, 1-64 characters', nonEmpty)
    .option('--quantity <n>', 'units, 1..1000', integer(1, 1000), 1)
    .requiredOption('--price-cents <n>', 'price of one unit in cents, 0..100000000', integer(0, 100_000_000))
    .option('--currency <code>', 'ISO 4217 code (default: the server default, USD)')
    .option('--request-id <key>', 'idempotency key: a UUID or 8-128 characters of [A-Za-z0-9_-] (default: a new UUID)')
    .option('--json', 'print the order and the replay flag as JSON')
    .action(async (options: OrderOptions, command: Command) => {
      await runOrder(await authenticatedClientsFor(command, ctx), options, ctx);
    });
  return addCredentialOptions(cmd);
}
