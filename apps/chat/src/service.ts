/** The chat service for runService (@grpc-patterns/runtime): config, room bus and handlers. */
import { ConfigError } from '@grpc-patterns/config';
import type { ServiceModule } from '@grpc-patterns/runtime';
import { createChatService } from './chat-service.js';
import { parseChatConfig, type ChatConfig } from './config.js';
import { connectNatsRoomBus } from './nats-room-bus.js';

export const loadConfig: ServiceModule<ChatConfig>['loadConfig'] = parseChatConfig;

export const start: ServiceModule<ChatConfig>['start'] = async ({ config, logger }) => {
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
        // The lease bucket's TTL disagrees with PRESENCE_LEASE_TTL_MS: a config error (the runtime exits 78).
        if (error instanceof ConfigError) throw error;
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
  return { services: [service.registration], afterStop: [service.close] };
};
