/**
 * The downstream call: does the user exist? auth.v1.AuthService/GetUser, made on behalf of
 * the incoming call. Its deadline, cancellation, request id and trace come from the incoming
 * call through the client interceptors (libs/interceptors client-propagation.ts: the call
 * context), the one propagation mechanism of this repo.
 *
 * Token relay: GetUser is not a public method, so the call carries the caller's own
 * `authorization` metadata (its access token), and auth decides what that caller may see.
 * Orders has no credentials of its own. The token is copied as it came, never logged.
 *
 * Downstream statuses are translated, never passed through: auth's NOT_FOUND is the orders
 * caller's FAILED_PRECONDITION, a token auth rejects is the caller's UNAUTHENTICATED, and an
 * auth outage must not look like an orders bug (INTERNAL).
 */
import { createClient, GrpcError, isServiceError, methodServiceConfig, type ServiceConfig, unaryCall } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import * as grpc from '@grpc/grpc-js';

/** Checks that a user exists; `incoming` is the call it runs for (its token is relayed). */
export type UserCheck = (userId: string, incoming: grpc.ServerUnaryCall<unknown, unknown>) => Promise<void>;

/**
 * Service config of the auth channel: round_robin over auth replicas, and GetUser (a read, safe
 * to repeat) retried on UNAVAILABLE up to 3 attempts with jittered exponential backoff (gRFC A6).
 * Retries stay inside the caller's deadline.
 */
export const AUTH_SERVICE_CONFIG: ServiceConfig = methodServiceConfig([
  { service: 'auth.v1.AuthService', method: 'GetUser', retryableStatusCodes: ['UNAVAILABLE'], maxAttempts: 3 },
]);

/** The metadata key relayed from the incoming call to auth (RFC 6750 Bearer token). */
export const AUTHORIZATION_KEY = 'authorization';

/** Options of {@link authUserCheck}. */
export interface AuthUserCheckOptions {
  /** Client interceptors of the auth client (clientInterceptorChain(): they carry the deadline and cancellation), first = outermost. */
  interceptors: grpc.Interceptor[];
}

/**
 * A {@link UserCheck} by auth.GetUser at `authTarget` (gRPC target URI), on its shared channel, relaying the
 * caller's `authorization`. Errors: auth's status translated to a GrpcError (README "The downstream call" table).
 */
export function authUserCheck(authTarget: string, options: AuthUserCheckOptions): UserCheck {
  const client = createClient(authV1.AuthServiceClient, authTarget, { serviceConfig: AUTH_SERVICE_CONFIG, interceptors: options.interceptors });
  const getUser = client.getUser.bind(client);
  return async (userId, incoming) => {
    const metadata = new grpc.Metadata();
    for (const value of incoming.metadata.get(AUTHORIZATION_KEY)) metadata.add(AUTHORIZATION_KEY, value);
    try {
      await unaryCall(getUser, authV1.GetUserRequest.fromPartial({ userId }), { metadata });
    } catch (error) {
      if (!isServiceError(error)) throw error;
      switch (error.code) {
        case grpc.status.NOT_FOUND:
        case grpc.status.INVALID_ARGUMENT:
          throw new GrpcError(grpc.status.FAILED_PRECONDITION, `user ${userId} does not exist`);
        case grpc.status.UNAUTHENTICATED:
          throw new GrpcError(grpc.status.UNAUTHENTICATED, "caller's token was rejected by auth");
        case grpc.status.PERMISSION_DENIED:
          throw new GrpcError(grpc.status.PERMISSION_DENIED, `auth does not let the caller look up user ${userId}`);
        case grpc.status.UNAVAILABLE:
          throw new GrpcError(grpc.status.UNAVAILABLE, `auth service unavailable: cannot check user ${userId}`);
        case grpc.status.DEADLINE_EXCEEDED:
          throw new GrpcError(grpc.status.DEADLINE_EXCEEDED, `deadline exceeded while checking user ${userId} with auth`);
        case grpc.status.CANCELLED:
          throw new GrpcError(grpc.status.CANCELLED, 'call cancelled');
        case grpc.status.RESOURCE_EXHAUSTED:
          // auth's per-user rate limit: the caller is placing orders faster than auth lets its
          // user be looked up. Retryable later; never an orders bug (INTERNAL).
          throw new GrpcError(grpc.status.RESOURCE_EXHAUSTED, `auth is rate limiting lookups of user ${userId}; retry later`);
        default:
          throw new Error(`auth.GetUser(${userId}) failed: ${grpc.status[error.code]} ${error.details}`, { cause: error });
      }
    }
  };
}
