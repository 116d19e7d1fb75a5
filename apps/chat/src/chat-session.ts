/**
 * One Chat stream from JoinRoom to its end: reads requests, forwards the room's events to the
 * client through a bounded {@link Outbox}, and leaves the room exactly once however the stream
 * ends.
 *
 * How a stream ends, and what the client sees:
 * - half-close after joining: the events already queued, then OK;
 * - a bad request (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, RESOURCE_EXHAUSTED
 *   for a full room): the events already queued, then that status;
 * - outbox overflow: RESOURCE_EXHAUSTED "client too slow"; queued events are dropped;
 * - cancel, deadline, connection lost, server shutdown: nothing more (grpc-js / grpc-kit send
 *   the status: CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE).
 * In every case the member leaves the room first, so the others see one LEFT.
 */
import { GrpcError, invalidArgument, writeMessage } from '@grpc-patterns/grpc-kit';
import type { Logger } from '@grpc-patterns/observability';
import type { chatV1 } from '@grpc-patterns/proto';
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import { validateJoin, validateText } from './chat-requests.js';
import type { ChatRooms, Membership } from './chat-rooms.js';
import { currentCallContext } from '@grpc-patterns/interceptors';
import type { ChatIdentity } from './chat-requests.js';
import { Outbox } from './outbox.js';
import type { RoomEvent } from './room-bus.js';

/** What a session needs from the service. */
export interface ChatSessionOptions {
  rooms: ChatRooms;
  /** Capacity of the stream's outbox (MAX_PENDING_EVENTS). */
  maxPendingEvents: number;
  logger: Logger;
  /** Who a member is (CHAT_IDENTITY); default `token`. */
  identity?: ChatIdentity;
}

/** The status details of a stream ended for not reading fast enough. */
export const CLIENT_TOO_SLOW = 'client too slow';

type ChatCall = ServerDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>;

/**
 * Runs one Chat stream (the body of the `bidiStreaming` handler).
 *
 * @returns a promise that resolves when the stream should end OK, or rejects with the status to
 *   end it with (a GrpcError), or with the abort reason when the call is already over.
 */
export function runChatSession(call: ChatCall, signal: AbortSignal, options: ChatSessionOptions): Promise<void> {
  return new ChatSession(call, signal, options).start();
}

class ChatSession {
  private membership: Membership | undefined;
  private readonly outbox: Outbox<RoomEvent>;
  private finished = false;
  private writer: Promise<void> = Promise.resolve();
  private settle!: (error?: unknown) => void;
  private readonly identity: ChatIdentity;
  /** CHAT_IDENTITY=token: the caller's token subject, read when the call starts (auth ran before). */
  private readonly subject: string | undefined;

  constructor(
    private readonly call: ChatCall,
    private readonly signal: AbortSignal,
    private readonly options: ChatSessionOptions,
  ) {
    this.outbox = new Outbox(options.maxPendingEvents);
    this.identity = options.identity ?? 'token';
    this.subject = this.identity === 'token' ? currentCallContext()?.user?.id : undefined;
  }

  start(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    if (this.signal.aborted) {
      this.finish('cancelled', this.signal.reason, false);
      return done;
    }
    this.call.on('data', this.onRequest);
    this.call.on('end', this.onHalfClose);
    this.call.on('close', this.onClose);
    this.signal.addEventListener('abort', this.onAbort);
    return done;
  }

  private readonly onRequest = (request: chatV1.ChatRequest): void => {
    if (this.finished) return;
    try {
      this.handle(request);
    } catch (error) {
      this.finish('bad request', error, true);
    }
  };

  private handle(request: chatV1.ChatRequest): void {
    const action = request.action;
    if (!this.membership) {
      if (action?.$case !== 'join') throw invalidArgument('join', 'the first request must be a join');
      if (this.identity === 'token' && this.subject === undefined) {
        throw new GrpcError(status.UNAUTHENTICATED, 'CHAT_IDENTITY=token: the call carries no verified user');
      }
      const { room, user } = validateJoin(action.join, this.subject);
      this.membership = this.options.rooms.join(
        room,
        user,
        (event) => this.deliver(event),
        (error) => this.finish('room bus failed', error, false),
      );
      this.membership.joined.catch((error: unknown) => this.finish('publish failed', error, false));
      this.options.logger.info({ room, user, peer: this.call.getPeer() }, 'joined room');
      this.writer = this.writeLoop();
      return;
    }
    switch (action?.$case) {
      case 'join':
        throw new GrpcError(status.FAILED_PRECONDITION, `already in room ${JSON.stringify(this.membership.room)}: one JoinRoom per stream`);
      case 'send':
        this.membership.send(validateText(action.send)).catch((error: unknown) => this.finish('publish failed', error, false));
        return;
      default:
        throw invalidArgument('action', 'must be join or send');
    }
  }

  /** The room's handler: never waits, so one slow member cannot hold up the room. */
  private deliver(event: RoomEvent): void {
    if (this.outbox.push(event)) return;
    this.options.logger.warn({ room: event.room, user: this.membership?.user, pending: this.outbox.size }, 'client too slow: ending its stream');
    this.finish('too slow', new GrpcError(status.RESOURCE_EXHAUSTED, CLIENT_TOO_SLOW), false);
  }

  private readonly onHalfClose = (): void => {
    // grpc-js also ends the request stream when the client cancels or the connection drops,
    // and reports the cancel a tick later: wait one turn so such a stream counts as cancelled.
    setImmediate(() => {
      if (!this.membership) this.finish('bad request', invalidArgument('join', 'the first request must be a join'), false);
      else this.finish('half-close', undefined, true);
    });
  };

  /** Cancel, deadline, lost connection (reason CANCELLED) or shutdown (UNAVAILABLE). */
  private readonly onAbort = (): void => {
    const reason = this.signal.reason;
    this.finish(reason instanceof GrpcError && reason.code !== status.CANCELLED ? reason.message : 'cancelled', reason, false);
  };

  /** The call closed under us (e.g. destroyed) without a cancel being reported first. */
  private readonly onClose = (): void => this.finish('closed', new GrpcError(status.CANCELLED, 'call closed'), false);

  /** Writes the outbox to the client, one message at a time, waiting for 'drain' when full. */
  private async writeLoop(): Promise<void> {
    try {
      for (let event = await this.outbox.take(); event; event = await this.outbox.take()) {
        // Never write after the stream was ended: grpc-js would turn that into another status.
        if (this.signal.aborted || this.call.writableEnded) return;
        await writeMessage(this.call, event);
      }
    } catch (error) {
      // The call ended while we waited (client gone, deadline, shutdown).
      this.finish('write failed', error, false);
    }
  }

  /**
   * Ends the session once: leave the room (the others see one LEFT), stop reading, then settle
   * the handler after the queued events were written (`flush`) or at once (queue dropped).
   */
  private finish(reason: string, error: unknown, flush: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.call.off('data', this.onRequest);
    this.call.off('end', this.onHalfClose);
    this.call.off('close', this.onClose);
    if (this.membership) {
      this.membership.leave();
      this.options.logger.info({ room: this.membership.room, user: this.membership.user, reason }, 'left room');
    }
    if (flush) {
      this.outbox.close();
      void this.writer.then(() => this.settle(error));
    } else {
      this.outbox.discard();
      this.settle(error);
    }
  }
}
