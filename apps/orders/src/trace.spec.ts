// One trace across two processes: PlaceOrder in orders (in this process, spans kept in memory)
// calls auth.GetUser in the real auth process, which exports its spans over OTLP/HTTP to a
// receiver in this test. Same trace id everywhere; auth's server span is the child of orders'
// client span, which is the child of orders' server span.
import { setupTracing, type Tracing } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import { cleanUp, orderOf, orderRequest, placeOrder, startOrders, tempDir, type OrdersUnderTest } from '../test/harness.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}

describe('tracing across orders -> auth', () => {
  const memory = new InMemorySpanExporter();
  let tracing: Tracing;
  let receiver: Server;
  const exported: OtlpSpan[] = [];
  let auth: ServiceProcess;
  let orders: OrdersUnderTest;

  beforeAll(async () => {
    tracing = setupTracing({ serviceName: 'orders', exporter: memory });
    // The OTLP/HTTP receiver auth exports to (JSON encoding, POST /v1/traces).
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const payload = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) exported.push(...ss.spans);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    auth = await spawnService({
      name: 'auth',
      env: { DATA_DIR: await tempDir('auth-trace'), LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
      // A loaded CI machine may take well over 30 s to start a process.
      readyTimeoutMs: 120_000,
    });
    orders = await startOrders({ authTarget: auth.target });
  });

  afterAll(async () => {
    await orders?.close();
    await auth?.stop();
    await new Promise((resolve) => receiver.close(resolve));
    await tracing.shutdown();
    await cleanUp();
  });

  it('links orders.PlaceOrder and auth.GetUser in one trace', async () => {
    const client = new authV1.AuthServiceClient(auth.target, grpc.credentials.createInsecure());
    const credentials = { username: `tracer_${process.pid}`, password: 'correct horse battery' };
    await unaryCallDetailed(client.register.bind(client), authV1.RegisterRequest.fromPartial(credentials));
    const { response } = await unaryCallDetailed(client.login.bind(client), authV1.LoginRequest.fromPartial(credentials));
    client.close();
    const user = { id: response.user?.id ?? '', username: credentials.username, accessToken: response.tokens?.accessToken ?? '' };

    const placed = orderOf(await placeOrder(orders.clientFor({ ...user, metadata: () => new grpc.Metadata() }), orderRequest(user.id)));
    expect(placed.userId).toBe(user.id);

    const spans = memory.getFinishedSpans();
    const server = spans.find((s) => s.name === 'orders.v1.OrderService/PlaceOrder' && s.kind === SpanKind.SERVER);
    const outgoing = spans.find((s) => s.name === 'auth.v1.AuthService/GetUser' && s.kind === SpanKind.CLIENT);
    expect(server).toBeDefined();
    expect(outgoing?.spanContext().traceId).toBe(server?.spanContext().traceId);
    expect(outgoing?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);

    // A graceful stop flushes auth's batch of spans to the receiver.
    expect(await auth.stop()).toBe(0);
    const getUser = exported.find((s) => s.name === 'auth.v1.AuthService/GetUser');
    expect(getUser).toMatchObject({ traceId: server?.spanContext().traceId, parentSpanId: outgoing?.spanContext().spanId, kind: 2 /* SPAN_KIND_SERVER */ });
  });
});
