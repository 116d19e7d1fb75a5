// Instrumentation first: tracing will be set up here before grpc loads (interceptors issue).
import { loadConfigOrExit } from '@grpc-patterns/config';
import { closeAllChannels, startServer } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { ordersConfigShape } from './config.js';
import { createOrdersService } from './orders-service.js';

async function main() {
  const config = loadConfigOrExit('orders', ordersConfigShape);
  const logger = createLogger({ service: 'orders', level: config.LOG_LEVEL });
  const service = await createOrdersService({
    dataDir: config.DATA_DIR,
    authTarget: config.AUTH_TARGET,
    idempotencyKeyTtlMs: config.IDEMPOTENCY_KEY_TTL_MS,
    logger,
  });
  await startServer({
    services: [service.registration],
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    // The store closes after the last call finished; then the auth channel.
    afterStop: [service.close, async () => closeAllChannels()],
  });
}

main().catch((error) => {
  console.error(`orders: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
