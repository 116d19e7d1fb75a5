/**
 * The per-call context every interceptor of this lib shares, and handlers and client
 * interceptors can read: who is calling (`user`, set by the auth interceptor), the request id,
 * the trace id, the effective deadline and a signal that fires when the call ends.
 *
 * Two ways in:
 * - interceptors call {@link callContext}(method, call): grpc-js gives each interceptor a
 *   different `call` object (each wraps the one before), so the context is keyed by the
 *   innermost (base) call that all of them wrap;
 * - handlers and client interceptors call {@link currentCallContext}(): an AsyncLocalStorage
 *   store that the server interceptors make active around every listener `next(...)`, so it is
 *   active while the handler runs (unary, server-streaming, client-streaming and bidi) and in
 *   everything the handler starts (timers, promises, outgoing calls).
 *
 * Like Go's `context.Context` for a gRPC handler: values plus cancellation plus deadline.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as grpc from '@grpc/grpc-js';

/** The authenticated caller, as the auth interceptor puts it (claims of the access token). */
export interface CallUser {
  /** User id: the token's `sub` claim. */
  id: string;
  username?: string;
  /** The token's `roles` claim. */
  roles: string[];
}

/** gRPC call shape, named as go-grpc-prometheus names it in the `grpc_type` label. */
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** A status as it leaves (or left) the server. */
export interface FinalStatus {
  code: grpc.status;
  details: string;
}

/** What one server call carries through the interceptor chain and into its handler. */
export interface CallContext {
  /** Full method path, "/auth.v1.AuthService/Login". */
  readonly path: string;
  /** Full service name, "auth.v1.AuthService". */
  readonly service: string;
  /** Method name, "Login". */
  readonly method: string;
  readonly type: GrpcType;
  /** Peer address of the caller, "127.0.0.1:53412" ("unknown" when grpc-js does not know). */
  readonly peer: string;
  /** When the first interceptor saw the call, `performance.now()` ms (for durations). */
  readonly startedAt: number;
  /** The `x-request-id` of the call (request-id interceptor). */
  requestId?: string;
  /** W3C trace id, 32 hex digits (tracing interceptor). */
  traceId?: string;
  /** The authenticated caller (auth interceptor); undefined for public methods. */
  user?: CallUser;
  /**
   * Effective deadline, ms since the epoch; undefined when the call has none. Starts as the
   * client's deadline; the deadline interceptor sets the server default or the cap.
   */
  deadline?: number;
  /**
   * Aborted when the call ends: status sent, client cancelled, deadline passed. The reason is
   * a {@link FinalStatus}. Outgoing calls made on this call's behalf are cancelled with it.
   */
  readonly signal: AbortSignal;
}

interface ContextState {
  /** Created when someone first reads `signal` (aborting a controller costs ~15 µs, most calls never need one). */
  controller?: AbortController;
  status?: FinalStatus;
  final?: FinalStatus;
}

/** Timers may fire a few ms before Date.now() reaches the deadline they were set for. */
const DEADLINE_SLACK_MS = 5;
const storage = new AsyncLocalStorage<CallContext>();
/** Where a call's context hangs: on grpc-js' base call object, and its state on the context (plain properties: no WeakMap entry per call). */
const CONTEXT = Symbol('grpc-patterns.callContext');
const STATE = Symbol('grpc-patterns.callState');
/** @internal A slot per context for the recovery interceptor's hook (Symbol.for: shared by every copy of this module). */
export const RECOVER_SLOT: unique symbol = Symbol.for('grpc-patterns.interceptors.recover') as never;

type ContextRecord = CallContext & { [STATE]: ContextState; [RECOVER_SLOT]?: (error: unknown, how: string) => void };
type BaseCall = { [CONTEXT]?: ContextRecord };

function signalOf(state: ContextState): AbortSignal {
  if (!state.controller) {
    state.controller = new AbortController();
    if (state.final) state.controller.abort(state.final);
  }
  return state.controller.signal;
}

/** Maps grpc-js' method definition flags to the go-grpc-prometheus `grpc_type`. */
export function grpcType(method: { requestStream: boolean; responseStream: boolean }): GrpcType {
  if (method.requestStream) return method.responseStream ? 'bidi_stream' : 'client_stream';
  return method.responseStream ? 'server_stream' : 'unary';
}

/**
 * Splits "/pkg.Service/Method" into service "pkg.Service" and method "Method" (the gRPC
 * HTTP/2 protocol's `:path`, grpc/grpc `doc/PROTOCOL-HTTP2.md`).
 */
export function splitMethodPath(path: string): { service: string; method: string } {
  const trimmed = path.startsWith('/') ? path.slice(1) : path;
  const slash = trimmed.lastIndexOf('/');
  return slash < 0 ? { service: 'unknown', method: trimmed } : { service: trimmed.slice(0, slash), method: trimmed.slice(slash + 1) };
}

/** grpc-js' ServerInterceptingCall keeps the call it wraps as `nextCall`: walk to the base. */
function baseCall(call: grpc.ServerInterceptingCallInterface): object {
  let current = call as unknown as { nextCall?: unknown };
  while (current.nextCall && typeof current.nextCall === 'object') current = current.nextCall as { nextCall?: unknown };
  return current;
}

/**
 * The context of the call `call` belongs to, created by the first (outermost) interceptor that
 * asks. Every server interceptor of this lib calls it with its `(methodDescriptor, call)`.
 */
export function callContext(method: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface): CallContext {
  const base = baseCall(call) as BaseCall;
  const existing = base[CONTEXT];
  if (existing) return existing;
  const { service, method: name } = splitMethodPath(method.path);
  const state: ContextState = {};
  const ctx: ContextRecord = {
    path: method.path,
    service,
    method: name,
    type: grpcType(method),
    peer: call.getPeer(),
    startedAt: performance.now(),
    deadline: deadlineMs(call.getDeadline()),
    get signal() {
      return signalOf(state);
    },
    [STATE]: state,
    [RECOVER_SLOT]: undefined,
  };
  base[CONTEXT] = ctx;
  return ctx;
}

/** The context of the server call being handled, or undefined outside any call. */
export function currentCallContext(): CallContext | undefined {
  return storage.getStore();
}

/**
 * Runs `fn` with `ctx` as the current call context (interceptors wrap their `next(...)` calls).
 * When `ctx` is current already (an outer interceptor of the same call made it so) `fn` just
 * runs: one AsyncLocalStorage scope per event of a call, however many interceptors ask.
 */
export function runInCallContext<T>(ctx: CallContext, fn: () => T): T {
  return storage.getStore() === ctx ? fn() : storage.run(ctx, fn);
}

/**
 * Records the status an interceptor passes towards the client. Called by each interceptor as
 * the status goes out (innermost first), so the last one recorded is what the outermost of
 * them sent: e.g. recovery's INTERNAL that replaced a handler's UNKNOWN.
 */
export function recordStatus(ctx: CallContext, status: { code: grpc.status; details?: string }): void {
  const state = (ctx as ContextRecord)[STATE];
  if (state && !state.final) state.status = { code: status.code, details: status.details ?? '' };
}

/**
 * Marks the call over (from `onCancel`, fired once whatever the reason), aborts its signal and returns the final
 * status: the recorded one, else DEADLINE_EXCEEDED past the deadline or CANCELLED (docs/observability.md "The
 * per-call context"). Idempotent.
 */
export function endCall(ctx: CallContext): FinalStatus {
  const state = (ctx as ContextRecord)[STATE];
  if (!state) return { code: grpc.status.UNKNOWN, details: 'no call context' };
  if (!state.final) {
    state.final =
      state.status ??
      (ctx.deadline !== undefined && Date.now() + DEADLINE_SLACK_MS >= ctx.deadline
        ? { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }
        : { code: grpc.status.CANCELLED, details: 'Cancelled' });
    state.controller?.abort(state.final);
  }
  return state.final;
}

/** The status the call ended with, once {@link endCall} ran; undefined before. */
export function finalStatus(ctx: CallContext): FinalStatus | undefined {
  return (ctx as ContextRecord)[STATE]?.final;
}

/** A grpc-js deadline (Date, ms since epoch, or Infinity for none) as ms since epoch or undefined. */
export function deadlineMs(deadline: grpc.Deadline | undefined): number | undefined {
  if (deadline === undefined) return undefined;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A server listener whose `next(...)` calls run with `ctx` current, so the handler and what it starts see it; missing
 * callbacks pass their event on, onCancel ends the call ({@link endCall}). Every server interceptor here starts its
 * listener through it, so any one of them makes the context visible.
 */
export function contextListener(ctx: CallContext, listener: grpc.ServerListener = {}): grpc.ServerListener {
  return {
    onReceiveMetadata: (metadata, next) => {
      const wrapped = (md: grpc.Metadata) => runInCallContext(ctx, () => next(md));
      if (listener.onReceiveMetadata) listener.onReceiveMetadata(metadata, wrapped);
      else wrapped(metadata);
    },
    onReceiveMessage: (message, next) => {
      const wrapped = (msg: unknown) => runInCallContext(ctx, () => next(msg));
      if (listener.onReceiveMessage) listener.onReceiveMessage(message, wrapped);
      else wrapped(message);
    },
    onReceiveHalfClose: (next) => {
      const wrapped = () => runInCallContext(ctx, () => next());
      if (listener.onReceiveHalfClose) listener.onReceiveHalfClose(wrapped);
      else wrapped();
    },
    onCancel: () => {
      endCall(ctx);
      listener.onCancel?.();
    },
  };
}
