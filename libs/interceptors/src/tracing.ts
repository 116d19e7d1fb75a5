/**
 * tracing: one OpenTelemetry SERVER span per call, continuing the caller's trace from the W3C
 * `traceparent`/`tracestate` metadata. Names and attributes follow the OpenTelemetry semantic
 * conventions for RPC spans (gRPC): span name "pkg.Service/Method", `rpc.system`="grpc",
 * `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `network.peer.address`/`.port`.
 *
 * The global provider and propagator come from setupTracing() in @grpc-patterns/observability;
 * without it the API is a no-op and this interceptor costs next to nothing.
 */
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT } from '@opentelemetry/semantic-conventions';
import { callContext, endCall, recordStatus, runInCallContext } from './call-context.js';

/**
 * RPC attribute names as @opentelemetry/instrumentation-grpc emits them (semconv 1.x RPC spans); plain strings, as the
 * semconv package deprecates them (the development conventions rename `rpc.system`, fold `rpc.service` into `rpc.method`).
 */
export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
/** Numeric gRPC status code of the call (0 = OK). */
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

/** Instrumentation scope name of the spans this lib starts. */
export const TRACER_NAME = '@grpc-patterns/interceptors';

/** Reads text metadata for OpenTelemetry propagators (binary `-bin` keys are skipped). */
export const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()).filter((k) => !k.endsWith('-bin')),
  get: (carrier, key) => {
    const values = carrier.get(key).filter((v): v is string => typeof v === 'string');
    if (values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};

/** Writes text metadata for OpenTelemetry propagators (replaces any value already there). */
export const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/**
 * The codes that make a server span's status ERROR (OTel gRPC conventions: the server failed); caller-caused codes
 * leave it unset (docs/observability.md "Tracing").
 */
export const SERVER_ERROR_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNKNOWN,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.INTERNAL,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

/** rpc.* attributes of a method path, per the OTel RPC conventions. */
export function rpcAttributes(service: string, method: string): Record<string, string> {
  return { [ATTR_RPC_SYSTEM]: 'grpc', [ATTR_RPC_SERVICE]: service, [ATTR_RPC_METHOD]: method };
}

/**
 * Server interceptor: a SERVER span "pkg.Service/Method", child of the W3C trace context in the metadata (else a root),
 * active around every listener `next(...)`, its trace id in the call context; ended with `rpc.grpc.status_code`, ERROR
 * for {@link SERVER_ERROR_CODES} with the details as message (docs/observability.md "Tracing").
 */
export function tracingInterceptor(): grpc.ServerInterceptor {
  return (method, call) => {
    const ctx = callContext(method, call);
    let span: Span | undefined;
    let active: Context | undefined;
    const within = (fn: () => void) => runInCallContext(ctx, () => (active ? context.with(active, fn) : fn()));

    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMd) => {
            const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
            const peer = call.getConnectionInfo();
            span = trace.getTracer(TRACER_NAME).startSpan(
              `${ctx.service}/${ctx.method}`,
              {
                kind: SpanKind.SERVER,
                attributes: {
                  ...rpcAttributes(ctx.service, ctx.method),
                  ...(peer.remoteAddress ? { [ATTR_NETWORK_PEER_ADDRESS]: peer.remoteAddress } : {}),
                  ...(peer.remotePort ? { [ATTR_NETWORK_PEER_PORT]: peer.remotePort } : {}),
                },
              },
              parent,
            );
            const spanContext = span.spanContext();
            if (trace.isSpanContextValid(spanContext)) ctx.traceId = spanContext.traceId;
            active = trace.setSpan(parent, span);
            within(() => nextMd(metadata));
          },
          onReceiveMessage: (message, nextMsg) => within(() => nextMsg(message)),
          onReceiveHalfClose: (nextHc) => within(() => nextHc()),
          onCancel: () => {
            const final = endCall(ctx);
            if (!span) return;
            span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, final.code);
            if (SERVER_ERROR_CODES.has(final.code)) span.setStatus({ code: SpanStatusCode.ERROR, message: final.details });
            span.end();
            span = undefined;
          },
        }),
      sendStatus: (status, next) => {
        recordStatus(ctx, status);
        next(status);
      },
    });
  };
}
