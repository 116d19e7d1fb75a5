// Instrumentation first: tracing is set up before grpc-js and the service code load.
import { tracing } from './instrumentation.js';
import { ConfigError } from '@grpc-patterns/config';
import { discoveryForServe } from '@grpc-patterns/discovery';
import { serve } from '@grpc-patterns/interceptors';
import { createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import { createChatService } from './chat-service.js';
import { exitOnConfigError, loadChatConfigOrExit } from './config.js';
import { connectNatsRoomBus } from './nats-room-bus.js';

async function main(): Promise<void> {
  const config = loadChatConfigOrExit();
  // Resolvers (etcd:, consul:) before any client exists; the registrar DISCOVERY asks for.
  const discovery = discoveryForServe(config, { service: 'chat', healthService: 'chat.v1.ChatService' });
  const logger = createLogger({ service: 'chat', level: config.LOG_LEVEL });
  // NATS_URL set: rooms shared by every replica through JetStream; else the in-process bus.
  const bus = config.NATS_URL
    ? await connectNatsRoomBus({
        servers: config.NATS_URL,
        maxRoomMembers: config.MAX_ROOM_MEMBERS,
        leaseTtlMs: config.PRESENCE_LEASE_TTL_MS,
        heartbeatMs: config.PRESENCE_HEARTBEAT_MS,
        leaseBucket: config.PRESENCE_BUCKET,
        onHandlerError: (err, room) => logger.error({ err, room }, 'room event handler failed'),
        onEvent: (event, detail) => logger.warn({ event, detail }, `chat bus: ${event}`),
      }).catch((error: unknown) => {
        // The lease bucket's TTL disagrees with PRESENCE_LEASE_TTL_MS: a config error, exit 78.
        if (error instanceof ConfigError) exitOnConfigError(error);
        throw new Error(`NATS_URL: cannot use NATS JetStream at ${config.NATS_URL}: ${error instanceof Error ? error.message : error}`);
      })
    : undefined;
  if (config.NATS_URL) {
    logger.info({ nats: config.NATS_URL, leaseTtlMs: config.PRESENCE_LEASE_TTL_MS, heartbeatMs: config.PRESENCE_HEARTBEAT_MS, bucket: config.PRESENCE_BUCKET }, 'rooms on NATS JetStream');
  }
  const service = await createChatService({
    logger,
    maxPendingEvents: config.MAX_PENDING_EVENTS,
    maxRoomMembers: config.MAX_ROOM_MEMBERS,
    identity: config.CHAT_IDENTITY,
    bus,
  });
  await serve({
    config,
    logger,
    tracing,
    registry: createMetricsRegistry(),
    services: [service.registration],
    ...discovery,
    afterStop: [service.close],
  });
}

main().catch((error) => {
  console.error(`chat: failed to start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
