/**
 * Authentication: a Bearer JWT (RFC 6750) from the `authorization` metadata, verified locally with jose against
 * auth's public keys; the checks, the key cache and why: docs/interceptors.md "Token verification (step 7)".
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcError, toStatus } from '@grpc-patterns/grpc-kit';
import { callContext, recordStatus, runInCallContext } from './call-context.js';
import type { PeerFailureBudget } from './auth-failure-budget.js';
import { isPublicMethod, PUBLIC_METHODS } from './public-methods.js';
import type { AuthUser, TokenVerifier } from './token-verifier.js';

export * from './key-source.js';
export * from './token-verifier.js';


/**
 * The token from `authorization: Bearer <token>` (RFC 6750 section 2.1; the scheme is
 * case-insensitive), or undefined when there is none.
 */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer +([^\s]+)\s*$/i.exec(value);
  return match?.[1];
}

/** Options of {@link authInterceptor}. */
export interface AuthInterceptorOptions {
  verifier: TokenVerifier;
  /** Methods that need no token (default {@link PUBLIC_METHODS}). */
  publicMethods?: readonly string[];
  /** Where unexpected verifier errors go (they become INTERNAL for the client). */
  report?: (error: unknown) => void;
  /**
   * Failed token checks per peer address (auth-failure-budget.ts): a peer that spent it gets
   * RESOURCE_EXHAUSTED with RetryInfo before its token is verified. Default: none.
   */
  failureBudget?: PeerFailureBudget;
}

/**
 * Server interceptor: a method not in `publicMethods` needs a valid Bearer access token, checked on the metadata
 * before any message; the user goes into the call context. Errors (docs/interceptors.md "Status codes the chain adds"):
 * UNAUTHENTICATED, also ending a stream that outlives its token; UNAVAILABLE; RESOURCE_EXHAUSTED per `failureBudget`.
 */
export function authInterceptor(options: AuthInterceptorOptions): grpc.ServerInterceptor {
  const publicMethods = options.publicMethods ?? PUBLIC_METHODS;
  const report = options.report ?? ((error: unknown) => console.error('auth interceptor: unexpected error', error));
  return (method, call) => {
    if (isPublicMethod(method.path, publicMethods)) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    const streaming = method.requestStream || method.responseStream;
    let ended = false;
    let expiry: NodeJS.Timeout | undefined;
    const finish = () => {
      ended = true;
      if (expiry) clearTimeout(expiry);
    };
    const reject = (error: unknown) => {
      if (ended) return;
      finish();
      const st = toStatus(error, report);
      recordStatus(ctx, st);
      call.sendStatus({ code: st.code, details: st.details, metadata: st.metadata ?? new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const token = bearerToken(metadata);
            if (token === undefined) return reject(new GrpcError(grpc.status.UNAUTHENTICATED, 'missing bearer token'));
            const budget = options.failureBudget;
            const peer = call.getPeer();
            const proceed = ({ user, expiresAtMs }: { user: AuthUser; expiresAtMs: number }) => {
              if (ended) return;
              ctx.user = user;
              if (streaming) {
                const delay = Math.min(Math.max(0, expiresAtMs + options.verifier.clockToleranceMs - Date.now()), MAX_TIMER_MS);
                expiry = setTimeout(() => reject(new GrpcError(grpc.status.UNAUTHENTICATED, 'token expired')), delay);
                expiry.unref();
              }
              runInCallContext(ctx, () => nextMetadata(metadata));
            };
            // Fast path: the answer is known now (a cached, unexpired token and a peer that has
            // not spent its budget), so the call goes on without awaiting anything.
            if (!budget || (budget.spent !== undefined && !budget.spent(peer))) {
              const known = options.verifier.verifyCached?.(token);
              if (known) return proceed(known);
            }
            // A peer that spent its failure budget is refused before the signature check.
            const verified = budget
              ? budget.blocked(peer).then((refusal) => {
                  if (refusal) throw refusal;
                  return options.verifier.verify(token).catch(async (error: unknown) => {
                    if (error instanceof GrpcError && error.code === grpc.status.UNAUTHENTICATED) await budget.failed(peer);
                    throw error;
                  });
                })
              : options.verifier.verify(token);
            verified.then(proceed, reject);
          },
          // The user is in the context from here on: keep it active for the handler too.
          onReceiveMessage: (message, nextMessage) => runInCallContext(ctx, () => nextMessage(message)),
          onReceiveHalfClose: (nextHalfClose) => runInCallContext(ctx, nextHalfClose),
          onCancel: finish,
        }),
      sendStatus: (st, next) => {
        finish();
        next(st);
      },
    });
  };
}

/** setTimeout's upper bound (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
