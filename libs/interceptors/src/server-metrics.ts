/**
 * server-metrics: Prometheus metrics for every call, with the names and labels of
 * go-grpc-prometheus (`server_metrics.go`), so the dashboards and alerts written for Go gRPC
 * services work unchanged:
 *
 * | metric | type | labels |
 * |---|---|---|
 * | grpc_server_started_total | counter | grpc_type, grpc_service, grpc_method |
 * | grpc_server_handled_total | counter | grpc_type, grpc_service, grpc_method, grpc_code |
 * | grpc_server_handling_seconds | histogram | grpc_type, grpc_service, grpc_method |
 * | grpc_server_msg_received_total | counter | grpc_type, grpc_service, grpc_method |
 * | grpc_server_msg_sent_total | counter | grpc_type, grpc_service, grpc_method |
 *
 * grpc_type is unary | client_stream | server_stream | bidi_stream; grpc_service the full name
 * ("auth.v1.AuthService"); grpc_method the method name ("Login"); grpc_code the status name
 * ("OK", "INVALID_ARGUMENT").
 */
import * as grpc from '@grpc/grpc-js';
import { statusName } from '@grpc-patterns/grpc-kit';
import { Counter, Histogram, type Registry } from 'prom-client';
import { callContext, contextListener, endCall, recordStatus } from './call-context.js';

/**
 * Histogram buckets of grpc_*_handling_seconds, seconds: Prometheus' DefBuckets, which
 * go-grpc-prometheus uses by default (.005 s .. 10 s).
 */
export const DEFAULT_HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const LABELS = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
const HANDLED_LABELS = [...LABELS, 'grpc_code'] as const;

interface ServerMetrics {
  started: Counter<(typeof LABELS)[number]>;
  handled: Counter<(typeof HANDLED_LABELS)[number]>;
  handling: Histogram<(typeof LABELS)[number]>;
  received: Counter<(typeof LABELS)[number]>;
  sent: Counter<(typeof LABELS)[number]>;
}

// prom-client refuses to register a name twice in one registry: one set per registry.
const perRegistry = new WeakMap<Registry, ServerMetrics>();

function serverMetrics(registry: Registry, buckets: number[]): ServerMetrics {
  let metrics = perRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      started: new Counter({ name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames: LABELS, registers }),
      handled: new Counter({ name: 'grpc_server_handled_total', help: 'Total number of RPCs completed on the server, regardless of success or failure.', labelNames: HANDLED_LABELS, registers }),
      handling: new Histogram({ name: 'grpc_server_handling_seconds', help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.', labelNames: LABELS, buckets, registers }),
      received: new Counter({ name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', labelNames: LABELS, registers }),
      sent: new Counter({ name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', labelNames: LABELS, registers }),
    };
    perRegistry.set(registry, metrics);
  }
  return metrics;
}

/** Options of {@link serverMetricsInterceptor}. */
export interface ServerMetricsOptions {
  /** The process registry (createMetricsRegistry() from @grpc-patterns/observability). */
  registry: Registry;
  /** Buckets of grpc_server_handling_seconds, seconds; default {@link DEFAULT_HANDLING_BUCKETS}. */
  buckets?: number[];
}

/**
 * Server interceptor recording the go-grpc-prometheus server metrics in `registry` (servers may share one): started at
 * the metadata, handled and handling_seconds at the end with the status the client got (grpc-js' own DEADLINE_EXCEEDED
 * or CANCELLED included), msg_received / msg_sent per message (docs/observability.md "Metrics").
 */
export function serverMetricsInterceptor(options: ServerMetricsOptions): grpc.ServerInterceptor {
  const metrics = serverMetrics(options.registry, options.buckets ?? DEFAULT_HANDLING_BUCKETS);
  return (method, call) => {
    const ctx = callContext(method, call);
    const labels = { grpc_type: ctx.type, grpc_service: ctx.service, grpc_method: ctx.method };
    let started: number | undefined;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next(contextListener(ctx, {
          onReceiveMetadata: (metadata, nextMd) => {
            started = performance.now();
            metrics.started.inc(labels);
            nextMd(metadata);
          },
          onReceiveMessage: (message, nextMsg) => {
            metrics.received.inc(labels);
            nextMsg(message);
          },
          onCancel: () => {
            if (started === undefined) return;
            const final = endCall(ctx);
            metrics.handled.inc({ ...labels, grpc_code: statusName(final.code) });
            metrics.handling.observe(labels, (performance.now() - started) / 1000);
            started = undefined;
          },
        })),
      sendMessage: (message, next) => {
        metrics.sent.inc(labels);
        next(message);
      },
      sendStatus: (status, next) => {
        recordStatus(ctx, status);
        next(status);
      },
    });
  };
}
