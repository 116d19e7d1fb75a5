// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { loadConfigOrExit } from '@grpc-patterns/config';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { grpcKeySource, serve } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { createChatService } from './chat-service.js';
import { chatConfigShape } from './config.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit('chat', chatConfigShape);
  // Resolvers (etcd:, consul:) before any client exists; the registrar DISCOVERY asks for.
  const discovery = discoveryForServe(config, { service: 'chat', healthService: 'chat.v1.ChatService' });
  const logger = createLogger({ service: 'chat', level: config.LOG_LEVEL });
  const service = await createChatService({ logger, maxPendingEvents: config.MAX_PENDING_EVENTS, maxRoomMembers: config.MAX_ROOM_MEMBERS });
  await serve({
    config,
    logger,
    tracing,
    registry: createMetricsRegistry(),
    services: [service.registration],
    ...discovery,
    keySource: grpcKeySource({ target: config.AUTH_TARGET, onFetchError: (err) => logger.warn({ err }, 'fetching token keys from auth failed') }),
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`chat: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
