// Instrumentation first: tracing will be set up here before grpc loads (interceptors issue).
import { loadConfigOrExit } from '@grpc-patterns/config';
import { startServer } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { createAuthService } from './auth-service.js';
import { authConfigShape } from './config.js';
import { openPgliteStore } from './pglite-store.js';

async function main() {
  const config = loadConfigOrExit('auth', authConfigShape);
  const logger = createLogger({ service: 'auth', level: config.LOG_LEVEL });
  const store = await openPgliteStore(config.DATA_DIR);
  try {
    const service = await createAuthService({ config, store, logger });
    logger.info({ dataDir: config.DATA_DIR, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }, 'auth store open');
    await startServer({
      services: [service.registration],
      host: config.GRPC_HOST,
      port: config.GRPC_PORT,
      logger,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      afterStop: [service.close],
    });
  } catch (error) {
    // Close PGlite cleanly (e.g. the port is taken) before main() exits the process.
    await store.close();
    throw error;
  }
}

main().catch((error) => {
  console.error(`auth: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
