import { closeAllChannels, createClient, unary, unaryCall } from '@grpc-patterns/grpc-kit';
import { createMetricsRegistry, setupTracing, type Tracing } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Registry } from 'prom-client';
import { SHAPES, startShapeServer, until, type ShapeServer } from '../test/four-shapes.js';
import { clientMetricsInterceptor } from './client-metrics.js';
import { clientPropagationInterceptor, PARENT_ENDED_MESSAGE } from './client-propagation.js';
import { deadlineInterceptor } from './deadline.js';
import { requestIdInterceptor } from './request-id.js';
import { tracingInterceptor } from './tracing.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('tracing and client propagation', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  beforeAll(() => {
    tracing = setupTracing({ serviceName: 'test', exporter });
  });
  afterAll(() => tracing.shutdown());
  afterEach(() => {
    exporter.reset();
    closeAllChannels();
  });

  describe('tracingInterceptor alone', () => {
    let server: ShapeServer;
    beforeEach(async () => {
      server = await startShapeServer([tracingInterceptor()]);
    });
    afterEach(() => server.close());

    it.each(SHAPES)('%s: one SERVER span continuing the caller\'s traceparent, with rpc.* attributes and status', async (shape) => {
      const traceparent = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
      expect(grpc.status[(await server.call(shape, { metadata: { traceparent } })).code]).toBe('OK');
      expect(grpc.status[(await server.call(shape, { metadata: { traceparent }, mode: 'invalid' })).code]).toBe('INVALID_ARGUMENT');
      expect(grpc.status[(await server.call(shape, { metadata: { traceparent }, mode: 'error' })).code]).toBe('UNKNOWN');
      await until(() => exporter.getFinishedSpans().length === 3, 'three spans');
      const spans = exporter.getFinishedSpans();
      const [service, method] = { unary: ['auth.v1.AuthService', 'GetUser'], server_stream: ['analytics.v1.AnalyticsService', 'StreamFlights'], client_stream: ['metrics.v1.MetricsService', 'UploadMetrics'], bidi_stream: ['chat.v1.ChatService', 'Chat'] }[shape];
      for (const span of spans) {
        expect(span.name).toBe(`${service}/${method}`);
        expect(span.kind).toBe(SpanKind.SERVER);
        expect(span.spanContext().traceId).toBe(TRACE_ID);
        expect(parentOf(span)).toBe(CALLER_SPAN);
        expect(span.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method, 'network.peer.address': '127.0.0.1' });
      }
      expect(spans.map((s) => [s.attributes['rpc.grpc.status_code'], s.status.code])).toEqual([
        [0, SpanStatusCode.UNSET],
        [3, SpanStatusCode.UNSET], // INVALID_ARGUMENT is the caller's fault: not an error of a server span
        [2, SpanStatusCode.ERROR],
      ]);
      expect(server.observed.contexts[0]?.traceId).toBe(TRACE_ID);
    });
  });

  describe('two hops: A handles GetUser by calling B', () => {
    let b: ShapeServer;
    let a: TestServer;
    let registry: Registry;
    let downstream: { code?: number; details?: string }[];
    beforeEach(async () => {
      downstream = [];
      registry = createMetricsRegistry();
      b = await startShapeServer([tracingInterceptor(), requestIdInterceptor()]);
      const toB = createClient(authV1.AuthServiceClient, b.target, {
        defaultDeadlineMs: 0,
        interceptors: [clientMetricsInterceptor({ registry }), clientPropagationInterceptor()],
      });
      const notUsed = unary(async () => ({}) as never);
      a = await startTestServer({
        interceptors: [tracingInterceptor(), requestIdInterceptor(), deadlineInterceptor({ unary: { defaultMs: 5_000, maxMs: 5_000 } })],
        services: [
          {
            name: 'auth.v1.AuthService',
            definition: authV1.AuthServiceService,
            implementation: {
              register: notUsed, login: notUsed, refresh: notUsed, getPublicKeys: notUsed,
              getUser: unary(async (call) => {
                const metadata = new grpc.Metadata();
                const mode = call.metadata.get('x-mode')[0];
                if (mode) metadata.set('x-mode', mode);
                try {
                  return await unaryCall(toB.getUser.bind(toB), { userId: call.request.userId }, { metadata });
                } catch (error) {
                  downstream.push({ code: (error as grpc.ServiceError).code, details: (error as grpc.ServiceError).details });
                  throw error;
                }
              }),
            } satisfies authV1.AuthServiceServer,
          },
        ],
      });
    });
    afterEach(async () => {
      await a.close();
      await b.close();
    });

    it('is one trace: A server -> A client -> B server, with request id and deadline carried over', async () => {
      const client = a.client(authV1.AuthServiceClient, { defaultDeadlineMs: 0 });
      const metadata = new grpc.Metadata();
      metadata.set('x-request-id', 'req-two-hops');
      const sentAt = Date.now();
      const response = await unaryCall(client.getUser.bind(client), { userId: 'u9' }, { metadata, deadline: sentAt + 3_000 });
      expect(response.user?.id).toBe('u9');
      await until(() => exporter.getFinishedSpans().length === 3, 'three spans');
      const spans = exporter.getFinishedSpans();
      const aServer = spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['network.peer.port'] !== undefined && !parentOf(s));
      const aClient = spans.find((s) => s.kind === SpanKind.CLIENT);
      const bServer = spans.find((s) => s.kind === SpanKind.SERVER && s !== aServer);
      expect([aServer?.name, aClient?.name, bServer?.name]).toEqual(['auth.v1.AuthService/GetUser', 'auth.v1.AuthService/GetUser', 'auth.v1.AuthService/GetUser']);
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
      expect(parentOf(aClient as ReadableSpan)).toBe(aServer?.spanContext().spanId);
      expect(parentOf(bServer as ReadableSpan)).toBe(aClient?.spanContext().spanId);
      expect(aClient?.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'auth.v1.AuthService', 'rpc.method': 'GetUser', 'rpc.grpc.status_code': 0 });
      // B saw A's request id and a deadline no later than the one A's caller set.
      const bCtx = b.observed.contexts[0];
      expect(bCtx?.requestId).toBe('req-two-hops');
      expect(b.observed.metadata[0].get('x-request-id')).toEqual(['req-two-hops']);
      // grpc-timeout is relative: each hop's server adds the time the request took to reach it,
      // so B's deadline can be later than sentAt + 3 s, but B never got more than the 3 s budget
      // from when its handler started. Without propagation B (no deadline interceptor) would see
      // no deadline at all.
      expect(bCtx?.deadline).toBeGreaterThan(sentAt);
      expect((bCtx?.deadline ?? Infinity) - (b.observed.startedAt[0] ?? 0)).toBeLessThanOrEqual(3_000);
      expect(bCtx?.traceId).toBe(aServer?.spanContext().traceId);
      const text = await registry.metrics();
      expect(text).toContain('grpc_client_started_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"} 1');
      expect(text).toContain('grpc_client_handled_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser",grpc_code="OK"} 1');
      expect(text).toContain('grpc_client_handling_seconds_count{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"} 1');
      expect(text).toContain('grpc_client_msg_sent_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"} 1');
      expect(text).toContain('grpc_client_msg_received_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"} 1');
    });

    it('cancels the downstream call when the caller cancels the upstream one', async () => {
      const client = a.client(authV1.AuthServiceClient, { defaultDeadlineMs: 0 });
      const metadata = new grpc.Metadata();
      metadata.set('x-mode', 'hang');
      const call = client.getUser({ userId: 'u1' }, metadata, () => undefined);
      await until(() => b.observed.contexts.length === 1, 'B handling the downstream call');
      call.cancel();
      await until(() => downstream.length === 1 && b.observed.cancelled === 1, 'downstream cancelled');
      expect(downstream).toEqual([{ code: grpc.status.CANCELLED, details: PARENT_ENDED_MESSAGE }]);
      const text = await registry.metrics();
      expect(text).toContain('grpc_client_handled_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser",grpc_code="CANCELLED"} 1');
    });
  });
});
