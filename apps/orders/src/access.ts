/**
 * Resource-level authorization: which orders a caller may touch. The interceptor chain has
 * already decided who the caller is (auth: a verified access token) and that it may call the
 * method at all (authz policy); only the handler knows whose order a request is about.
 *
 * - PlaceOrder: for the caller itself; an admin (role "admin") may place orders for any user.
 * - GetOrder, ListOrders: the caller's own orders only.
 *
 * The user comes from the call context (`currentCallContext()?.user`, set by the auth
 * interceptor). A server run without the chain has none: every call is then refused with
 * UNAUTHENTICATED (fail closed), never served as if anyone may see anything.
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { currentCallContext, type CallUser } from '@grpc-patterns/interceptors';
import * as grpc from '@grpc/grpc-js';

/** The role that may place orders on behalf of other users (auth's ADMIN_USERNAMES get it). */
export const ADMIN_ROLE = 'admin';

/**
 * The authenticated caller of the call being handled.
 *
 * @throws GrpcError UNAUTHENTICATED `authentication required` when the call context has no user.
 */
export function requireCaller(): CallUser {
  const user = currentCallContext()?.user;
  if (!user) throw new GrpcError(grpc.status.UNAUTHENTICATED, 'authentication required');
  return user;
}

/** May `caller` place an order whose user_id is `userId`? Its own, or any as an admin. */
export function mayPlaceOrderFor(caller: CallUser, userId: string): boolean {
  return caller.id === userId || caller.roles.includes(ADMIN_ROLE);
}

/** May `caller` read the orders of `ownerId`? Only its own. */
export function mayReadOrdersOf(caller: CallUser, ownerId: string): boolean {
  return caller.id === ownerId;
}
