import { Counter } from 'prom-client';
import { Writable } from 'node:stream';
import { createLogger, createMetricsRegistry, startMetricsServer } from './index.js';

const logger = createLogger({ service: 't', level: 'silent', destination: new Writable({ write: (_c, _e, d) => d() }) });

describe('metrics endpoint', () => {
  it('serves the registry at /metrics with default Node metrics, 404 elsewhere', async () => {
    const registry = createMetricsRegistry({ service: 'test' });
    new Counter({ name: 'demo_total', help: 'demo', registers: [registry] }).inc(3);
    const server = await startMetricsServer({ registry, port: 0, host: '127.0.0.1', logger });
    try {
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toContain('demo_total{service="test"} 3');
      expect(text).toContain('nodejs_eventloop_lag_seconds');
      expect(text).toContain('process_resident_memory_bytes');
      expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('fails with the address when the port is taken', async () => {
    const registry = createMetricsRegistry();
    const first = await startMetricsServer({ registry, port: 0, host: '127.0.0.1', logger });
    try {
      await expect(startMetricsServer({ registry, port: first.port, host: '127.0.0.1', logger })).rejects.toThrow(`cannot serve metrics on 127.0.0.1:${first.port}: listen EADDRINUSE`);
    } finally {
      await first.close();
    }
  });
});
