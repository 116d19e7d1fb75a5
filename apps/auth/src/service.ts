/** The auth service for runService (@grpc-patterns/runtime): config, store and handlers. */
import { staticKeySource } from '@grpc-patterns/interceptors';
import type { ServiceModule } from '@grpc-patterns/runtime';
import { createAuthService } from './auth-service.js';
import { parseAuthConfig, type AuthConfig } from './config.js';
import { openPgliteStore } from './pglite-store.js';
import { withUserCache } from './user-cache.js';

export const loadConfig: ServiceModule<AuthConfig>['loadConfig'] = parseAuthConfig;

export const start: ServiceModule<AuthConfig>['start'] = async ({ config, logger }) => {
  const store = withUserCache(await openPgliteStore(config.DATA_DIR));
  // Close PGlite cleanly when start-up fails (e.g. the port is taken). It may be closed already
  // (a failed registration shuts the started server down, afterStop included).
  const closeStore = () => store.close().catch(() => undefined);
  try {
    const service = await createAuthService({ config, store, logger });
    logger.info({ dataDir: config.DATA_DIR, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }, 'auth store open');
    return {
      services: [service.registration],
      // auth verifies tokens with its own public keys: it cannot call itself at start-up.
      keySource: staticKeySource(service.verificationKeys),
      afterStop: [service.close],
      onStartFailure: closeStore,
    };
  } catch (error) {
    await closeStore();
    throw error;
  }
};
