/**
 * The chat.v1.ChatService implementation, built from its dependencies so main.ts and the tests
 * assemble it the same way.
 */
import { bidiStreaming, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import { chatV1 } from '@grpc-patterns/proto';
import type { ChatIdentity } from './chat-requests.js';
import { ChatRooms } from './chat-rooms.js';
import { runChatSession } from './chat-session.js';
import { InProcessRoomBus, type RoomBus } from './room-bus.js';

/** Dependencies and limits of {@link createChatService}. */
export interface ChatServiceOptions {
  logger: Logger;
  /** Events one stream may have waiting for its client (MAX_PENDING_EVENTS). */
  maxPendingEvents: number;
  /** Members one room may have (MAX_ROOM_MEMBERS). */
  maxRoomMembers: number;
  /** Who a member is (CHAT_IDENTITY); default `token` (`name` lets anyone speak as anyone: demos only). */
  identity?: ChatIdentity;
  /** Fan-out; default a new {@link InProcessRoomBus}. */
  bus?: RoomBus;
  /** Time stamped on events by the default bus; default `() => new Date()`. */
  clock?: () => Date;
}

/** A built chat service. */
export interface ChatService {
  /** For `startServer({ services: [registration] })`. */
  registration: ServiceRegistration;
  rooms: ChatRooms;
  bus: RoomBus;
  /** Closes the bus (startServer's `afterStop`). */
  close(): Promise<void>;
}

/**
 * Builds the service: one {@link ChatRooms} over one {@link RoomBus}, and a Chat handler that
 * runs a session per stream. Status codes: see `chat-session.ts`.
 */
export async function createChatService(options: ChatServiceOptions): Promise<ChatService> {
  const { logger } = options;
  const bus =
    options.bus ?? new InProcessRoomBus({ clock: options.clock, onHandlerError: (err, room) => logger.error({ err, room }, 'room event handler failed') });
  const rooms = new ChatRooms({
    bus,
    maxRoomMembers: options.maxRoomMembers,
    onPublishError: (err, room) => logger.error({ err, room }, 'publishing a LEFT presence failed'),
  });
  const implementation: chatV1.ChatServiceServer = {
    chat: bidiStreaming((call, signal) => runChatSession(call, signal, { rooms, maxPendingEvents: options.maxPendingEvents, logger, identity: options.identity })),
  };
  return {
    registration: { name: 'chat.v1.ChatService', definition: chatV1.ChatServiceService, implementation },
    rooms,
    bus,
    close: () => bus.close(),
  };
}
