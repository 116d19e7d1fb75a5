/**
 * OpenTelemetry tracing set-up, called first thing in each app's main.ts, before grpc-js and
 * the server code are imported (Online Boutique `paymentservice/index.js` does the same), so
 * the global tracer provider, context manager and propagator exist before any call arrives.
 *
 * - Provider: NodeTracerProvider (AsyncLocalStorage context manager), resource `service.name`
 *   from `OTEL_SERVICE_NAME` or the given name.
 * - Propagator: W3C Trace Context (`traceparent`/`tracestate`), the format gRPC metadata
 *   carries between our services.
 * - Export: a BatchSpanProcessor with the OTLP/HTTP (JSON) exporter only when
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; nothing is
 *   exported otherwise (spans still exist, so trace ids reach logs and downstream calls).
 *   Tests pass an exporter (InMemorySpanExporter), exported synchronously with a
 *   SimpleSpanProcessor so assertions need no waiting.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Options of {@link setupTracing}. */
export interface TracingOptions {
  /** `service.name` of every span, unless `OTEL_SERVICE_NAME` is set (the standard variable wins). */
  serviceName: string;
  /**
   * Export here instead (tests: an InMemorySpanExporter), synchronously per span. When given,
   * the OTLP variables are ignored.
   */
  exporter?: SpanExporter;
  /** Environment to read `OTEL_*` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** What {@link setupTracing} set up. */
export interface Tracing {
  provider: NodeTracerProvider;
  /** Where spans go: "otlp" (endpoint URL set), "custom" (options.exporter) or "none". */
  export: 'otlp' | 'custom' | 'none';
  /** Exports every finished span still buffered (BatchSpanProcessor) now. */
  forceFlush(): Promise<void>;
  /**
   * Flushes and stops the provider and unregisters the globals (tracer provider, context
   * manager, propagator), so a later setupTracing() starts clean. Call it on shutdown (the
   * server's afterStop hook) so the last batch is not lost.
   */
  shutdown(): Promise<void>;
}

/**
 * Registers the global OpenTelemetry tracer provider, context manager and W3C propagator.
 * Call once per process, before loading grpc; {@link Tracing.shutdown} undoes it.
 *
 * @returns the provider and where spans are exported ("otlp" when
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set: POST
 *   `<endpoint>/v1/traces`, OTLP JSON, batched).
 */
export function setupTracing(options: TracingOptions): Tracing {
  const env = options.env ?? process.env;
  const processors: SpanProcessor[] = [];
  let exportTo: Tracing['export'] = 'none';
  if (options.exporter) {
    processors.push(new SimpleSpanProcessor(options.exporter));
    exportTo = 'custom';
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    // The URL as the OTLP exporter spec builds it (signal-specific variable used as is, the
    // generic one + "/v1/traces"); headers, timeout and compression come from OTEL_* too.
    const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${String(env.OTEL_EXPORTER_OTLP_ENDPOINT).replace(/\/+$/, '')}/v1/traces`;
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
    exportTo = 'otlp';
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || options.serviceName }),
    spanProcessors: processors,
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    provider,
    export: exportTo,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
