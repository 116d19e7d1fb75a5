/**
 * client-metrics: Prometheus metrics for outgoing calls with go-grpc-prometheus' client names
 * and labels (`client_metrics.go`):
 *
 * | metric | type | labels |
 * |---|---|---|
 * | grpc_client_started_total | counter | grpc_type, grpc_service, grpc_method |
 * | grpc_client_handled_total | counter | grpc_type, grpc_service, grpc_method, grpc_code |
 * | grpc_client_handling_seconds | histogram | grpc_type, grpc_service, grpc_method |
 * | grpc_client_msg_received_total | counter | grpc_type, grpc_service, grpc_method |
 * | grpc_client_msg_sent_total | counter | grpc_type, grpc_service, grpc_method |
 *
 * Label values as on the server side (server-metrics.ts); grpc_code is the status the client
 * saw, including the ones made locally (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED).
 */
import * as grpc from '@grpc/grpc-js';
import { statusName } from '@grpc-patterns/grpc-kit';
import { Counter, Histogram, type Registry } from 'prom-client';
import { grpcType, splitMethodPath } from './call-context.js';
import { DEFAULT_HANDLING_BUCKETS } from './server-metrics.js';

const LABELS = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
const HANDLED_LABELS = [...LABELS, 'grpc_code'] as const;

interface ClientMetrics {
  started: Counter<(typeof LABELS)[number]>;
  handled: Counter<(typeof HANDLED_LABELS)[number]>;
  handling: Histogram<(typeof LABELS)[number]>;
  received: Counter<(typeof LABELS)[number]>;
  sent: Counter<(typeof LABELS)[number]>;
}

const perRegistry = new WeakMap<Registry, ClientMetrics>();

function clientMetrics(registry: Registry, buckets: number[]): ClientMetrics {
  let metrics = perRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      started: new Counter({ name: 'grpc_client_started_total', help: 'Total number of RPCs started on the client.', labelNames: LABELS, registers }),
      handled: new Counter({ name: 'grpc_client_handled_total', help: 'Total number of RPCs completed by the client, regardless of success or failure.', labelNames: HANDLED_LABELS, registers }),
      handling: new Histogram({ name: 'grpc_client_handling_seconds', help: 'Histogram of response latency (seconds) of the gRPC until it is finished by the application.', labelNames: LABELS, buckets, registers }),
      received: new Counter({ name: 'grpc_client_msg_received_total', help: 'Total number of RPC stream messages received by the client.', labelNames: LABELS, registers }),
      sent: new Counter({ name: 'grpc_client_msg_sent_total', help: 'Total number of gRPC stream messages sent by the client.', labelNames: LABELS, registers }),
    };
    perRegistry.set(registry, metrics);
  }
  return metrics;
}

/** Options of {@link clientMetricsInterceptor}. */
export interface ClientMetricsOptions {
  /** The process registry (createMetricsRegistry() from @grpc-patterns/observability). */
  registry: Registry;
  /** Buckets of grpc_client_handling_seconds, seconds; default DEFAULT_HANDLING_BUCKETS (.005 s .. 10 s). */
  buckets?: number[];
}

/**
 * Client interceptor recording the go-grpc-prometheus client metrics in `registry`: started at the start, handled
 * and handling_seconds at the status, msg_sent / msg_received per message (docs/observability.md "Metrics").
 */
export function clientMetricsInterceptor(options: ClientMetricsOptions): grpc.Interceptor {
  const metrics = clientMetrics(options.registry, options.buckets ?? DEFAULT_HANDLING_BUCKETS);
  return (options, nextCall) => {
    const definition = options.method_definition;
    const { service, method } = splitMethodPath(definition.path);
    const labels = { grpc_type: grpcType(definition), grpc_service: service, grpc_method: method };
    return new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        const started = performance.now();
        metrics.started.inc(labels);
        next(metadata, {
          onReceiveMessage: (message, nextMessage) => {
            metrics.received.inc(labels);
            nextMessage(message);
          },
          onReceiveStatus: (status, nextStatus) => {
            metrics.handled.inc({ ...labels, grpc_code: statusName(status.code) });
            metrics.handling.observe(labels, (performance.now() - started) / 1000);
            nextStatus(status);
          },
        });
      },
      sendMessage: (message, next) => {
        metrics.sent.inc(labels);
        next(message);
      },
    });
  };
}
