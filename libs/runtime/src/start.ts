/**
 * The start-up after tracing, in order: config, resolvers (before any client exists, so
 * `AUTH_TARGET=etcd:///auth` resolves), TLS for every channel, logger, the service's start(),
 * serve(). Loaded by runService after tracing is set up.
 */
import { discoveryForServe } from '@grpc-patterns/discovery';
import { clientInterceptorChain } from '@grpc-patterns/interceptors';
import { serviceManifest } from '@grpc-patterns/manifest';
import { createLogger, createMetricsRegistry, type Tracing } from '@grpc-patterns/observability';
import { serve, useTlsFromConfig, type ServeConfig } from './serve.js';
import type { ServiceModule } from './service-module.js';

type RuntimeConfig = ServeConfig & Parameters<typeof discoveryForServe>[0] & { LOG_LEVEL: Parameters<typeof createLogger>[0]['level'] };

/**
 * Runs `module` as service `name` until SIGTERM/SIGINT (serve()'s graceful shutdown).
 * @throws ConfigError from loadConfig or start(); Error when a port cannot be bound.
 */
export async function startService(name: string, tracing: Tracing, module: ServiceModule<RuntimeConfig>): Promise<void> {
  const config = module.loadConfig(process.env);
  const discovery = discoveryForServe(config, { service: name, healthService: serviceManifest(name).fullName });
  useTlsFromConfig(config);
  const logger = createLogger({ service: name, level: config.LOG_LEVEL });
  const registry = createMetricsRegistry();
  const setup = await module.start({ config, logger, registry, clientInterceptors: () => clientInterceptorChain({ registry }) });
  const { onStartFailure, ...serveOptions } = setup;
  try {
    await serve({ config, logger, tracing, registry, ...discovery, ...serveOptions });
  } catch (error) {
    await onStartFailure?.().catch(() => undefined);
    throw error;
  }
}
