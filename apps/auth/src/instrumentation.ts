/**
 * Imported first by main.ts: OpenTelemetry is set up before grpc-js and the service code load
 * (Online Boutique `paymentservice/index.js`), so every call is traced from the start.
 * Spans are exported only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */
import { setupTracing } from '@grpc-patterns/observability';

export const tracing = setupTracing({ serviceName: 'auth' });
