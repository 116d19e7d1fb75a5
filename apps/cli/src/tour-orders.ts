/** Tour step 5. orders, idempotent unary (what it checks: tour.ts). */
import * as grpc from '@grpc/grpc-js';
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { randomBytes, randomUUID } from 'node:crypto';
import { Clients } from './clients.js';
import { placeOrder, placeOrderRequest } from './commands/order.js';
import { type StepTools, type TourState, checkBadRequest, MISSING_TOKEN_MESSAGE, NOT_YOURSELF_MESSAGE } from './tour-step.js';

export async function ordersStep(clients: Clients, t: StepTools, state: TourState, runId: string): Promise<string> {
  const user = state.user;
  t.check(!!user?.id && clients.userId === user.id, 'a user to order for: the one logged in in step 1 (the token is theirs)', 'step 1 logged in no user');
  const userId = user?.id ?? '';
  const requestId = randomUUID();
  const item = { userId, sku: 'tour-sku-espresso', quantity: 2, priceCents: 1250 };
  t.log(`PlaceOrder request_id=${requestId} ${item.quantity} x ${item.sku} at ${item.priceCents} cents for ${userId}`);

  const first = await placeOrder(clients, placeOrderRequest({ ...item, requestId }));
  t.check(!!first.order?.id && first.order.userId === userId && first.order.requestId === requestId, `placed order ${first.order?.id}`);
  t.check(first.order?.totalCents === '2500', `total_cents = 2 x 1250 = 2500`, `got ${first.order?.totalCents}`);
  t.check(!first.replayed, 'first call: not a replay (no idempotent-replayed header)');

  const retry = await placeOrder(clients, placeOrderRequest({ ...item, requestId }));
  t.check(retry.order?.id === first.order?.id, 'retry with the same key returns the same order id', `got ${retry.order?.id}`);
  t.check(retry.replayed, 'retry carries the response header idempotent-replayed: true');

  const orders = clients.orders;
  const got = await unaryCall(orders.getOrder.bind(orders), ordersV1.GetOrderRequest.fromPartial({ orderId: first.order?.id ?? '' }), { deadline: clients.unaryDeadline() });
  t.check(got.order?.id === first.order?.id, 'GetOrder reads it back');
  const list = await unaryCall(orders.listOrders.bind(orders), ordersV1.ListOrdersRequest.fromPartial({ userId, pageSize: 10 }), { deadline: clients.unaryDeadline() });
  t.check(list.orders.length === 1, 'ListOrders shows exactly one order for the user (the retry placed none)', `got ${list.orders.length}`);

  await t.expectCode(
    placeOrder(clients, placeOrderRequest({ ...item, quantity: 3, requestId })),
    grpc.status.FAILED_PRECONDITION,
    'same key, different quantity',
    `request_id ${requestId} was already used with a different request`,
  );

  const invalid = await t.expectCode(
    placeOrder(clients, placeOrderRequest({ ...item, quantity: 0, requestId: randomUUID() })),
    grpc.status.INVALID_ARGUMENT,
    'quantity 0 (token sent: validation runs after auth)',
    'items[0].quantity: must be between 1 and 1000',
  );
  checkBadRequest(t, invalid, [{ field: 'items[0].quantity', description: 'must be between 1 and 1000' }]);

  // Another real user: registering needs no token (Register is public).
  const auth = clients.auth;
  const otherName = `other_${runId}`.toLowerCase().slice(0, 32);
  const other = await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: otherName, password: randomBytes(12).toString('base64url') }), { deadline: clients.unaryDeadline() });
  const otherId = other.user?.id ?? '';
  t.log(`registered ${otherName} (id ${otherId})`);
  await t.expectCode(placeOrder(clients, placeOrderRequest({ ...item, userId: otherId, requestId: randomUUID() })), grpc.status.PERMISSION_DENIED, `an order for ${otherName}'s user_id`, NOT_YOURSELF_MESSAGE);

  const anonymous = state.anonymous;
  await t.expectCode(placeOrder(anonymous, placeOrderRequest({ ...item, requestId: randomUUID() })), grpc.status.UNAUTHENTICATED, 'PlaceOrder without a token', MISSING_TOKEN_MESSAGE);
  return 'placed once for the caller; retry replayed; other payload FAILED_PRECONDITION; other user PERMISSION_DENIED';
}
