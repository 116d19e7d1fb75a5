/**
 * Prometheus metrics: one prom-client Registry per process (never the global default one, so
 * tests and several servers in one process do not collide), with Node's default process and
 * event-loop metrics, served as text at `GET /metrics` on METRICS_PORT.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { logStats } from './log-destination.js';

/** A new registry with prom-client's default metrics (process_*, nodejs_* incl. event-loop lag). */
export function createMetricsRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Registers `log_lines_dropped_total` in `registry`: lines `logger`'s stdout destination dropped
 * (buffer full because stdout is not read, reader gone, or logged after the final flush). Read
 * at scrape time; stays 0 for loggers with another destination.
 */
export function registerLogMetrics(registry: Registry, logger: Logger): void {
  if (registry.getSingleMetric('log_lines_dropped_total')) return; // one per registry
  let reported = 0;
  new Counter({
    name: 'log_lines_dropped_total',
    help: 'Log lines dropped instead of written to stdout (buffer full, reader gone, or after the final flush).',
    registers: [registry],
    collect() {
      const dropped = logStats(logger)?.dropped ?? 0;
      if (dropped > reported) this.inc(dropped - reported);
      reported = dropped;
    },
  });
}

/** A running /metrics endpoint. */
export interface MetricsServer {
  /** The bound port (useful when 0 was asked for). */
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` at `http://host:port/metrics` (Prometheus text format 0.0.4), 404 elsewhere; logs
 * "metrics endpoint" with the URL once listening.
 * @throws Error when the port cannot be bound (message names host:port and the cause).
 */
export function startMetricsServer(options: { registry: Registry; port: number; host?: string; logger: Logger }): Promise<MetricsServer> {
  const host = options.host ?? '0.0.0.0';
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    options.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
      (error: unknown) => {
        options.logger.error({ err: error }, 'collecting metrics failed');
        response.writeHead(500).end('collecting metrics failed\n');
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot serve metrics on ${host}:${options.port}: ${error.message}`)));
    server.listen(options.port, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/metrics`;
      options.logger.info({ url }, 'metrics endpoint');
      resolve({ port, url, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}
