// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { serve, staticKeySource } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { createAuthService } from './auth-service.js';
import { loadAuthConfigOrExit } from './config.js';
import { openPgliteStore } from './pglite-store.js';

async function main() {
  const config = loadAuthConfigOrExit();
  // Resolvers (etcd:, consul:) before any client exists; the registrar DISCOVERY asks for.
  const discovery = discoveryForServe(config, { service: 'auth', healthService: 'auth.v1.AuthService' });
  const logger = createLogger({ service: 'auth', level: config.LOG_LEVEL });
  const store = await openPgliteStore(config.DATA_DIR);
  try {
    const service = await createAuthService({ config, store, logger });
    logger.info({ dataDir: config.DATA_DIR, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }, 'auth store open');
    await serve({
      config,
      logger,
      tracing,
      registry: createMetricsRegistry(),
      services: [service.registration],
    ...discovery,
      // auth verifies tokens with its own public keys: it cannot call itself at start-up.
      keySource: staticKeySource(service.verificationKeys),
      afterStop: [service.close],
    });
  } catch (error) {
    // Close PGlite cleanly (e.g. the port is taken) before main() exits the process. It may
    // be closed already (a failed registration shuts the started server down, afterStop
    // included): the original error is the one to report.
    await store.close().catch(() => undefined);
    throw error;
  }
}

main().catch((error) => {
  console.error(`auth: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
