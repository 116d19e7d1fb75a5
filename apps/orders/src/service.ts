/** The orders service for runService (@grpc-patterns/runtime): config and handlers. */
import { parseConfig } from '@grpc-patterns/config';
import type { ServiceModule } from '@grpc-patterns/runtime';
import { ordersConfigShape, type OrdersConfig } from './config.js';
import { createOrdersService } from './orders-service.js';
import { ordersValidation } from './validation.js';

export const loadConfig: ServiceModule<OrdersConfig>['loadConfig'] = (env) => parseConfig(ordersConfigShape, env);

export const start: ServiceModule<OrdersConfig>['start'] = async ({ config, logger, clientInterceptors }) => {
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
    clientInterceptors: clientInterceptors(),
  });
  // The store closes after the last call finished; serve() then closes the channels.
  return { services: [service.registration], validation: ordersValidation(), afterStop: [service.close] };
};
