/**
 * client-propagation: what an outgoing call inherits from the server call it is made for
 * (the current call context, found through AsyncLocalStorage), as Go's `context.Context`
 * carries it through grpc-go:
 *
 * - its deadline: the earlier of the outgoing call's own and the parent's remaining one;
 * - its `x-request-id`, unless the caller set one;
 * - its trace: a CLIENT span "pkg.Service/Method" is started as a child of the active
 *   OpenTelemetry context (the server span of the parent call) and injected as W3C
 *   `traceparent`/`tracestate`, so the downstream server span is the client span's child;
 * - its cancellation: when the parent call ends (cancelled, deadline, or finished), the
 *   outgoing call is cancelled with CANCELLED "parent call ended" (grpc-js' own
 *   `propagate.CANCELLATION` does the same, but needs the parent call object passed in).
 *
 * Outside any server call only the CLIENT span and trace context are added.
 */
import * as grpc from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT } from '@opentelemetry/semantic-conventions';
import { currentCallContext, deadlineMs, splitMethodPath } from './call-context.js';
import { REQUEST_ID_KEY } from './request-id.js';
import { ATTR_RPC_GRPC_STATUS_CODE, metadataSetter, rpcAttributes, TRACER_NAME } from './tracing.js';

/** Details of the CANCELLED status an outgoing call gets when its parent call ends first. */
export const PARENT_ENDED_MESSAGE = 'parent call ended';

/**
 * The deadline of an outgoing call, ms since epoch: the earlier of its own (`own`, a grpc-js
 * Deadline) and the parent's (`parent`, ms since epoch); undefined when neither has one.
 */
export function propagatedDeadline(own: grpc.Deadline | undefined, parent: number | undefined): number | undefined {
  const mine = deadlineMs(own);
  if (mine === undefined) return parent;
  if (parent === undefined) return mine;
  return Math.min(mine, parent);
}

/** "127.0.0.1:50051" or "[::1]:50051" into address and port (undefined port when absent). */
function parsePeer(peer: string): { address: string; port?: number } {
  const match = /^\[?(.*?)\]?:(\d+)$/.exec(peer);
  return match ? { address: match[1], port: Number(match[2]) } : { address: peer };
}

/**
 * Client interceptor propagating deadline, request id, trace and cancellation (docs/observability.md "Propagation to
 * downstream calls"); its CLIENT span ends at the status with `rpc.grpc.status_code`, the peer, ERROR for any non-OK.
 */
export function clientPropagationInterceptor(): grpc.Interceptor {
  return (options, nextCall) => {
    const parent = currentCallContext();
    const { service, method } = splitMethodPath(options.method_definition.path);
    const parentContext = context.active();
    const span = trace.getTracer(TRACER_NAME).startSpan(`${service}/${method}`, { kind: SpanKind.CLIENT, attributes: rpcAttributes(service, method) }, parentContext);
    const spanContext = trace.setSpan(parentContext, span);
    const deadline = propagatedDeadline(options.deadline, parent?.deadline);
    const call = new grpc.InterceptingCall(nextCall(deadline === undefined ? options : { ...options, deadline }), {
      start: (metadata, listener, next) => {
        if (parent?.requestId && metadata.get(REQUEST_ID_KEY).length === 0) metadata.set(REQUEST_ID_KEY, parent.requestId);
        propagation.inject(spanContext, metadata, metadataSetter);
        const onParentEnd = () => call.cancelWithStatus(grpc.status.CANCELLED, PARENT_ENDED_MESSAGE);
        next(metadata, {
          onReceiveStatus: (status, nextStatus) => {
            parent?.signal.removeEventListener('abort', onParentEnd);
            const peer = parsePeer(call.getPeer());
            span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, status.code);
            if (peer.address && peer.address !== 'unknown') span.setAttribute(ATTR_NETWORK_PEER_ADDRESS, peer.address);
            if (peer.port !== undefined) span.setAttribute(ATTR_NETWORK_PEER_PORT, peer.port);
            if (status.code !== grpc.status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
            span.end();
            nextStatus(status);
          },
        });
        if (parent) {
          if (parent.signal.aborted) onParentEnd();
          else parent.signal.addEventListener('abort', onParentEnd, { once: true });
        }
      },
    });
    return call;
  };
}
