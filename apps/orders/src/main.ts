// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { loadConfigOrExit } from '@grpc-patterns/config';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { clientInterceptorChain, serve, useTlsFromConfig } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { ordersConfigShape } from './config.js';
import { createOrdersService } from './orders-service.js';
import { ordersValidation } from './validation.js';

async function main() {
  const config = loadConfigOrExit('orders', ordersConfigShape);
  // Resolvers (etcd:, consul:) before any client exists (AUTH_TARGET may be etcd:///auth).
  const discovery = discoveryForServe(config, { service: 'orders', healthService: 'orders.v1.OrderService' });
  const logger = createLogger({ service: 'orders', level: config.LOG_LEVEL });
  const registry = createMetricsRegistry();
  // TLS_* before the auth client below is made: it gets the process' channel credentials.
  useTlsFromConfig(config);
  const service = await createOrdersService({
    dataDir: config.DATA_DIR,
    // Set: PostgreSQL, shared by every replica; unset: PGlite under DATA_DIR.
    databaseUrl: config.DATABASE_URL,
    authTarget: config.AUTH_TARGET,
    idempotencyKeyTtlMs: config.IDEMPOTENCY_KEY_TTL_MS,
    inFlightWaitMs: config.IDEMPOTENCY_IN_FLIGHT_WAIT_MS,
    pruneIntervalMs: config.IDEMPOTENCY_PRUNE_INTERVAL_MS,
    logger,
    // The downstream auth.GetUser call carries the caller's deadline, request id and trace.
    clientInterceptors: clientInterceptorChain({ registry }),
  });
  await serve({
    config,
    logger,
    tracing,
    registry,
    services: [service.registration],
    ...discovery,
    validation: ordersValidation(),
    // The store closes after the last call finished; serve() then closes the channels.
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`orders: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
