/**
 * One ordered JetStream consumer per room this replica follows, fanned out to its subscribers in
 * process; a gap in the room's sequence ends them with DATA_LOSS (README "Across replicas").
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { status } from '@grpc/grpc-js';
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from 'nats';
import { toGrpcError, type Envelope, type RoomSnapshot } from './nats-room-state.js';
import type { RoomErrorHandler, RoomEvent, RoomEventHandler } from './room-bus.js';

interface Subscriber {
  handler: RoomEventHandler;
  onError?: RoomErrorHandler;
  since: number;
  member?: string;
}

interface RoomConsumer {
  subscribers: Set<Subscriber>;
  /** Resolves once the consumer exists on the server (events published after it reach us). */
  ready: Promise<void>;
  messages?: ConsumerMessages;
  /** Room sequence last delivered here; 0 before the first. */
  lastSeq: number;
  stopped: boolean;
}

/** What {@link RoomConsumers} is given by the bus. */
export interface RoomConsumersOptions {
  js: JetStreamClient;
  stream: string;
  subject: (room: string) => string;
  onHandlerError: (error: unknown, room: string) => void;
  /** A message was delivered: the room's state at it. */
  delivered: (room: string, snapshot: RoomSnapshot) => void;
  /** The room's consumer stopped (nobody here follows the room any more). */
  stopped: (room: string) => void;
  /** The room's consumer exists on the server. */
  started: (room: string) => void;
  /** A LEFT of lease `lease` was delivered (maybe announced by another replica). */
  left: (lease: string) => void;
}

/** The rooms this replica follows, and their subscribers. */
export class RoomConsumers {
  private readonly rooms = new Map<string, RoomConsumer>();
  /** Subscribers by membership id (the lease's stream, ended when the lease is lost). */
  private readonly members = new Map<string, { consumer: RoomConsumer; subscriber: Subscriber }>();

  constructor(private readonly options: RoomConsumersOptions) {}

  /** `RoomBus.subscribe()`, starting the room's consumer for its first subscriber. */
  subscribe(room: string, handler: RoomEventHandler, onError?: RoomErrorHandler, member?: string): () => void {
    let consumer = this.rooms.get(room);
    if (!consumer) consumer = this.start(room);
    const subscriber: Subscriber = { handler, onError, since: consumer.lastSeq, member };
    consumer.subscribers.add(subscriber);
    if (member !== undefined) this.members.set(member, { consumer, subscriber });
    const owner = consumer;
    return () => {
      if (member !== undefined && this.members.get(member)?.subscriber === subscriber) this.members.delete(member);
      if (!owner.subscribers.delete(subscriber)) return;
      if (owner.subscribers.size === 0) this.stop(room, owner);
    };
  }

  /** Ends the subscription of membership `member` in `room` with `error`, if it has one. */
  endMember(room: string, member: string, error: GrpcError): void {
    const entry = this.members.get(member);
    if (!entry) return;
    this.members.delete(member);
    entry.consumer.subscribers.delete(entry.subscriber);
    if (entry.consumer.subscribers.size === 0) this.stop(room, entry.consumer);
    entry.subscriber.onError?.(error);
  }

  has(room: string): boolean {
    return this.rooms.has(room);
  }

  /** Resolves once the room's consumer exists on the server; undefined when not followed. */
  ready(room: string): Promise<void> | undefined {
    return this.rooms.get(room)?.ready;
  }

  /** The rooms followed now. */
  roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  count(): number {
    return this.rooms.size;
  }

  /** Ends every room's subscribers with an error of `error()` (one per room). */
  failAll(error: () => GrpcError): void {
    for (const [room, consumer] of [...this.rooms]) this.fail(room, consumer, error());
  }

  /** Stops every consumer; their subscribers hear nothing more. */
  stopAll(): void {
    for (const [room, consumer] of this.rooms) this.stop(room, consumer);
  }

  private start(room: string): RoomConsumer {
    const consumer: RoomConsumer = { subscribers: new Set(), ready: Promise.resolve(), lastSeq: 0, stopped: false };
    this.rooms.set(room, consumer);
    consumer.ready = (async () => {
      const ordered = await this.options.js.consumers.get(this.options.stream, { filterSubjects: this.options.subject(room), deliver_policy: DeliverPolicy.New });
      const messages = await ordered.consume();
      if (consumer.stopped) {
        await messages.close();
        return;
      }
      consumer.messages = messages;
      void this.readLoop(room, consumer, messages);
    })();
    consumer.ready.then(
      () => this.options.started(room),
      (error: unknown) => this.fail(room, consumer, toGrpcError(error)),
    );
    return consumer;
  }

  private async readLoop(room: string, consumer: RoomConsumer, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (consumer.stopped) return;
        const envelope = message.json<Envelope>();
        this.options.delivered(room, { streamSeq: message.seq, seq: envelope.seq, members: envelope.members, leases: envelope.leases ?? {} });
        if (consumer.lastSeq !== 0 && envelope.seq !== consumer.lastSeq + 1) {
          this.fail(room, consumer, new GrpcError(status.DATA_LOSS, `room ${JSON.stringify(room)}: events ${consumer.lastSeq + 1}-${envelope.seq - 1} are gone`));
          return;
        }
        consumer.lastSeq = envelope.seq;
        if (envelope.body.$case === 'presence' && envelope.body.presence.kind === chatV1.PresenceKind.PRESENCE_KIND_LEFT && envelope.lease !== undefined) {
          this.options.left(envelope.lease);
        }
        const event: RoomEvent = { room, sequence: String(envelope.seq), time: new Date(envelope.time), event: envelope.body };
        for (const subscriber of consumer.subscribers) {
          if (subscriber.since >= envelope.seq) continue;
          try {
            subscriber.handler(event);
          } catch (error) {
            this.options.onHandlerError(error, room);
          }
        }
      }
    } catch (error) {
      this.fail(room, consumer, toGrpcError(error));
    }
  }

  private stop(room: string, consumer: RoomConsumer): void {
    consumer.stopped = true;
    if (this.rooms.get(room) === consumer) this.rooms.delete(room);
    this.options.stopped(room);
    void consumer.messages?.close().catch(() => undefined);
  }

  /** Ends the room's subscribers with `error` (each once) and drops the consumer. */
  private fail(room: string, consumer: RoomConsumer, error: GrpcError): void {
    if (consumer.stopped) return;
    this.stop(room, consumer);
    const subscribers = [...consumer.subscribers];
    consumer.subscribers.clear();
    for (const subscriber of subscribers) subscriber.onError?.(error);
  }
}
