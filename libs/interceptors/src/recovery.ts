/**
 * recovery: nothing a handler throws reaches the client as anything but INTERNAL "internal
 * error", the full error goes to the log, and the process stays up. The pattern is
 * go-grpc-middleware's `recovery` interceptor (which turns handler panics into codes.Internal);
 * this one is the outermost of the chain so it also covers the interceptors inside it.
 */
import * as grpc from '@grpc/grpc-js';
import { INTERNAL_MESSAGE, statusName } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { callContext, currentCallContext, recordStatus, RECOVER_SLOT, runInCallContext } from './call-context.js';

/** Options of {@link recoveryInterceptor}. */
export interface RecoveryOptions {
  /** Where the full error (message, stack, cause) goes, at level error. */
  logger: Logger;
}

type Recover = (error: unknown, how: string) => void;
type WithRecover = { [RECOVER_SLOT]?: Recover };

/**
 * One process-wide 'unhandledRejection' listener routes a rejection raised while a call was
 * being handled back to that call's recovery (its context's RECOVER_SLOT). Kept on globalThis so
 * that several copies of this module (jest module registries) share one listener.
 */
const GLOBAL_KEY = Symbol.for('grpc-patterns.interceptors.recovery');

function listenForRejections(): void {
  const holder = globalThis as unknown as { [GLOBAL_KEY]?: true };
  if (holder[GLOBAL_KEY]) return;
  holder[GLOBAL_KEY] = true;
  // Node runs 'unhandledRejection' listeners in the async context of the rejected promise,
  // so the current call context says which call's handler the rejection came from.
  process.on('unhandledRejection', (reason) => {
    const recover = (currentCallContext() as WithRecover | undefined)?.[RECOVER_SLOT];
    if (recover) {
      recover(reason, 'handler promise rejected (unhandled)');
      return;
    }
    // Not ours: keep Node's default (--unhandled-rejections=throw) when no one else listens.
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  });
}

/**
 * Server interceptor turning handler failures (a throw, an unawaited rejected promise, any UNKNOWN status) into
 * INTERNAL {@link INTERNAL_MESSAGE}, the original logged at error; a detached callback's throw still crashes the
 * process. Outermost in the chain (docs/observability.md "Recovery").
 */
export function recoveryInterceptor(options: RecoveryOptions): grpc.ServerInterceptor {
  const { logger } = options;
  listenForRejections();
  return (method, call) => {
    const ctx = callContext(method, call);
    let statusSent = false;
    const internal = (metadata?: grpc.Metadata | null): { code: grpc.status; details: string; metadata: grpc.Metadata | null } => ({ code: grpc.status.INTERNAL, details: INTERNAL_MESSAGE, metadata: metadata ?? null });

    const recover: Recover = (error, how) => {
      logger.error({ err: error, 'grpc.method': method.path, request_id: ctx.requestId, trace_id: ctx.traceId }, `handler failed: ${how}`);
      if (statusSent) return;
      statusSent = true;
      const status = internal();
      recordStatus(ctx, status);
      call.sendStatus(status);
    };
    (ctx as WithRecover)[RECOVER_SLOT] = recover;

    const guarded = (fn: () => void) =>
      runInCallContext(ctx, () => {
        try {
          fn();
        } catch (error) {
          recover(error, 'exception thrown');
        }
      });

    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMd) => guarded(() => nextMd(metadata)),
          onReceiveMessage: (message, nextMsg) => guarded(() => nextMsg(message)),
          onReceiveHalfClose: (nextHc) => guarded(() => nextHc()),
          // The hook stays on the context: a rejection after the call ended is still logged.
          onCancel: () => {
            statusSent = true;
          },
        }),
      sendStatus: (status, next) => {
        if (statusSent) {
          next(status);
          return;
        }
        statusSent = true;
        let out = status;
        if (status.code === grpc.status.UNKNOWN) {
          logger.error(
            { 'grpc.method': method.path, 'grpc.code': statusName(status.code), details: status.details, request_id: ctx.requestId, trace_id: ctx.traceId },
            'handler failed: UNKNOWN status replaced by INTERNAL',
          );
          out = internal(status.metadata);
        }
        recordStatus(ctx, out);
        next(out);
      },
    });
  };
}
