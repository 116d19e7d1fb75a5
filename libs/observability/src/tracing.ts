/**
 * OpenTelemetry tracing set-up, called first thing in each app's main.ts, before grpc-js and
 * the server code are imported (Online Boutique `paymentservice/index.js` does the same), so
 * the global tracer provider, context manager and propagator exist before any call arrives.
 *
 * - Provider: NodeTracerProvider (AsyncLocalStorage context manager), resource `service.name`
 *   from `OTEL_SERVICE_NAME` or the given name.
 * - Sampler: `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` of the options' env
 *   ({@link samplerFromEnv}); default parentbased_always_on (every root call traced, a caller's
 *   decision followed).
 * - Propagator: W3C Trace Context (`traceparent`/`tracestate`), the format gRPC metadata
 *   carries between our services.
 * - Export: a BatchSpanProcessor with the OTLP/HTTP (JSON) exporter only when
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; nothing is
 *   exported otherwise (spans still exist, so trace ids reach logs and downstream calls).
 *   Tests pass an exporter (InMemorySpanExporter), exported synchronously with a
 *   SimpleSpanProcessor so assertions need no waiting.
 */
import { context, diag, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, type Sampler, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
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
  /** The sampler in use, as {@link samplerFromEnv} names it ("parentbased_traceidratio 0.01"). */
  sampler: string;
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
 * Registers the global OpenTelemetry tracer provider, context manager and W3C propagator; call once
 * per process, before loading grpc ({@link Tracing.shutdown} undoes it). See docs/observability.md "Tracing".
 * @returns the provider and where spans go ("otlp" with `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT` set).
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
  const sampling = samplerFromEnv(env);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || options.serviceName }),
    spanProcessors: processors,
    sampler: sampling.sampler,
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    provider,
    export: exportTo,
    sampler: sampling.name,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The values of `OTEL_TRACES_SAMPLER` (OpenTelemetry SDK environment variable specification). */
export const TRACES_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
/** What {@link samplerFromEnv} builds when `OTEL_TRACES_SAMPLER` is unset (the specification's default). */
export const DEFAULT_TRACES_SAMPLER = 'parentbased_always_on';

/**
 * The sampler that `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` of `env` name (OpenTelemetry SDK
 * environment specification); unset: {@link DEFAULT_TRACES_SAMPLER}, unknown: the default and a `diag.error`.
 * Ratio, fallbacks and why: docs/observability.md "Tracing".
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): { name: string; sampler: Sampler } {
  const name = (env.OTEL_TRACES_SAMPLER || DEFAULT_TRACES_SAMPLER).trim().toLowerCase();
  const arg = env.OTEL_TRACES_SAMPLER_ARG === undefined || env.OTEL_TRACES_SAMPLER_ARG.trim() === '' ? NaN : Number(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  switch (name) {
    case 'always_on':
      return { name, sampler: new AlwaysOnSampler() };
    case 'always_off':
      return { name, sampler: new AlwaysOffSampler() };
    case 'traceidratio':
      return { name: `${name} ${ratio}`, sampler: new TraceIdRatioBasedSampler(ratio) };
    case 'parentbased_always_on':
      return { name, sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) };
    case 'parentbased_always_off':
      return { name, sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) };
    case 'parentbased_traceidratio':
      return { name: `${name} ${ratio}`, sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }) };
    default:
      diag.error(`OTEL_TRACES_SAMPLER=${env.OTEL_TRACES_SAMPLER} is not one of ${TRACES_SAMPLERS.join(', ')}: using ${DEFAULT_TRACES_SAMPLER}`);
      return { name: DEFAULT_TRACES_SAMPLER, sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) };
  }
}
