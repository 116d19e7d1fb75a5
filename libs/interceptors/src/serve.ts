/**
 * serve(): what every service's main.ts does after tracing is set up: the /metrics endpoint,
 * the server interceptor chain, startServer(), and shutdown hooks that flush spans and close
 * channels. One place, so the five services cannot drift apart.
 *
 * main.ts shape (Online Boutique `paymentservice/index.js`: instrumentation before the rest):
 *   import { tracing } from './instrumentation.js';   // first: setupTracing()
 *   ...
 *   await serve({ name, config, logger, tracing, registry, services, keySource, ... });
 */
import { closeAllChannels, startServer, type RunningServer, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { startMetricsServer, type Logger, type Tracing } from '@grpc-patterns/observability';
import type { Registry } from 'prom-client';
import { serverInterceptorChain, type ServerChainOptions } from './chain.js';

/** The common variables of every service (`serviceEnv()` from @grpc-patterns/config). */
export interface ServeConfig {
  GRPC_HOST: string;
  GRPC_PORT: number;
  METRICS_PORT: number;
  SHUTDOWN_GRACE_MS: number;
}

/** Options of {@link serve}. */
export interface ServeOptions extends Omit<ServerChainOptions, 'logger' | 'registry'> {
  config: ServeConfig;
  logger: Logger;
  tracing: Tracing;
  registry: Registry;
  services: ServiceRegistration[];
  /** Run after NOT_SERVING, before draining (deregistration). */
  beforeDrain?: Array<() => Promise<void>>;
  /** Run after the server stopped, before spans are flushed and channels closed (close stores). */
  afterStop?: Array<() => Promise<void>>;
}

/**
 * Serves `/metrics` on METRICS_PORT, then the services on GRPC_HOST:GRPC_PORT behind
 * {@link serverInterceptorChain}. On shutdown (SIGTERM/SIGINT, see startServer): the app's
 * afterStop hooks, then the metrics endpoint closes, spans are flushed, channels closed.
 *
 * @throws Error naming the address when either port cannot be bound (the metrics endpoint is
 *   closed again if the gRPC bind fails).
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const { config, logger } = options;
  const metrics = await startMetricsServer({ registry: options.registry, port: config.METRICS_PORT, host: config.GRPC_HOST, logger });
  try {
    return await startServer({
      services: options.services,
      host: config.GRPC_HOST,
      port: config.GRPC_PORT,
      logger,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      interceptors: serverInterceptorChain({ ...options, logger, registry: options.registry }),
      beforeDrain: options.beforeDrain,
      afterStop: [...(options.afterStop ?? []), () => metrics.close(), () => options.tracing.shutdown(), async () => closeAllChannels()],
    });
  } catch (error) {
    await metrics.close();
    throw error;
  }
}
