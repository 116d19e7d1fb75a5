import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { createMetricsRegistry } from '@grpc-patterns/observability';
import { grpc } from '@grpc-patterns/testing';
import type { Registry } from 'prom-client';
import { SHAPES, startShapeServer, type ShapeServer } from '../test/four-shapes.js';
import { serverMetricsInterceptor } from './server-metrics.js';

/** The sample lines of `name` in the exposition text, without the default `service` label. */
async function samples(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).sort();
}

describe('serverMetricsInterceptor', () => {
  let server: ShapeServer;
  let registry: Registry;
  beforeEach(async () => {
    registry = createMetricsRegistry();
    server = await startShapeServer([serverMetricsInterceptor({ registry })]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  it('counts started, handled by code, messages and handling time per method, for all four shapes', async () => {
    for (const shape of SHAPES) {
      expect(grpc.status[(await server.call(shape)).code]).toBe('OK');
      expect(grpc.status[(await server.call(shape)).code]).toBe('OK');
      expect(grpc.status[(await server.call(shape, { mode: 'invalid' })).code]).toBe('INVALID_ARGUMENT');
    }
    // The server's own deadline (grpc-js, below the interceptor) ends the call: a client deadline
    // would race the server (CANCELLED, or under load the call never started on the server).
    expect(grpc.status[(await server.call('unary', { mode: 'hang', serverTimeoutMs: 50 })).code]).toBe('DEADLINE_EXCEEDED');
    const u = 'grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"';
    const ss = 'grpc_type="server_stream",grpc_service="analytics.v1.AnalyticsService",grpc_method="StreamFlights"';
    const cs = 'grpc_type="client_stream",grpc_service="metrics.v1.MetricsService",grpc_method="UploadMetrics"';
    const bd = 'grpc_type="bidi_stream",grpc_service="chat.v1.ChatService",grpc_method="Chat"';
    expect(await samples(registry, 'grpc_server_started_total')).toEqual(
      [`grpc_server_started_total{${u}} 4`, `grpc_server_started_total{${ss}} 3`, `grpc_server_started_total{${cs}} 3`, `grpc_server_started_total{${bd}} 3`].sort(),
    );
    const handled = (labels: string, code: string, n: number) => `grpc_server_handled_total{${labels},grpc_code="${code}"} ${n}`;
    expect(await samples(registry, 'grpc_server_handled_total')).toEqual(
      [
        handled(u, 'OK', 2), handled(u, 'INVALID_ARGUMENT', 1), handled(u, 'DEADLINE_EXCEEDED', 1),
        handled(ss, 'OK', 2), handled(ss, 'INVALID_ARGUMENT', 1),
        handled(cs, 'OK', 2), handled(cs, 'INVALID_ARGUMENT', 1),
        handled(bd, 'OK', 2), handled(bd, 'INVALID_ARGUMENT', 1),
      ].sort(),
    );
    // Received: unary 1 per call (4), server stream 1 (3), client stream and bidi 3 per OK call (6):
    // the INVALID_ARGUMENT calls end before their request stream is read.
    expect(await samples(registry, 'grpc_server_msg_received_total')).toEqual(
      [`grpc_server_msg_received_total{${u}} 4`, `grpc_server_msg_received_total{${ss}} 3`, `grpc_server_msg_received_total{${cs}} 6`, `grpc_server_msg_received_total{${bd}} 6`].sort(),
    );
    // Sent: OK calls only: unary 1, server stream 2, client stream 1, bidi 3 (one echo each).
    expect(await samples(registry, 'grpc_server_msg_sent_total')).toEqual(
      [`grpc_server_msg_sent_total{${u}} 2`, `grpc_server_msg_sent_total{${ss}} 4`, `grpc_server_msg_sent_total{${cs}} 2`, `grpc_server_msg_sent_total{${bd}} 6`].sort(),
    );
    expect(await samples(registry, 'grpc_server_handling_seconds_count')).toEqual(
      [`grpc_server_handling_seconds_count{${u}} 4`, `grpc_server_handling_seconds_count{${ss}} 3`, `grpc_server_handling_seconds_count{${cs}} 3`, `grpc_server_handling_seconds_count{${bd}} 3`].sort(),
    );
  });

  it('shares one set of metrics between servers using the same registry', async () => {
    const second = await startShapeServer([serverMetricsInterceptor({ registry })]);
    try {
      await server.call('unary');
      await second.call('unary');
      expect(await samples(registry, 'grpc_server_started_total')).toEqual(['grpc_server_started_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="GetUser"} 2']);
    } finally {
      await second.close();
    }
  });
});
