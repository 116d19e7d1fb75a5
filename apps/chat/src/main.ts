// Instrumentation first: tracing will be set up here before grpc loads (interceptors issue).
import { loadConfigOrExit } from '@grpc-patterns/config';
import { startServer } from '@grpc-patterns/grpc-kit';
import { createLogger } from '@grpc-patterns/observability';
import { createChatService } from './chat-service.js';
import { chatConfigShape } from './config.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit('chat', chatConfigShape);
  const logger = createLogger({ service: 'chat', level: config.LOG_LEVEL });
  const service = await createChatService({ logger, maxPendingEvents: config.MAX_PENDING_EVENTS, maxRoomMembers: config.MAX_ROOM_MEMBERS });
  await startServer({
    services: [service.registration],
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`chat: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
