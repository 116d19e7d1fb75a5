/**
 * The generated clients the CLI uses, one per service, on grpc-kit's shared channel per target
 * (so `tour` opens one HTTP/2 connection per service however many calls it makes).
 */
import { createClient } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import type { Targets } from './config.js';

/** Deadlines of the CLI's calls, ms. */
export interface Deadlines {
  /** Each unary call (login, PlaceOrder ...). */
  unaryMs: number;
  /** A whole server-streaming or client-streaming call (a flights scan, an upload). */
  streamMs: number;
}

/**
 * Defaults: 10 s for a unary call (a scrypt login on a busy 2-core machine stays well under
 * that), 5 min for a stream (a scan of all 3 000 000 flights, with margin).
 */
export const DEFAULT_DEADLINES: Deadlines = { unaryMs: 10_000, streamMs: 300_000 };

/**
 * The clients of every service, made on first use. There is deliberately no close(): a
 * generated client's close() closes its channel, which grpc-kit shares per target, and would
 * leave a closed channel for every later client of that target. The channels are closed once,
 * with closeAllChannels(), when the CLI is done (program.ts).
 */
export class Clients {
  private made = new Map<string, unknown>();

  constructor(
    readonly targets: Targets,
    readonly deadlines: Deadlines = DEFAULT_DEADLINES,
  ) {}

  get auth(): authV1.AuthServiceClient {
    return this.client('auth', () => createClient(authV1.AuthServiceClient, this.targets.auth, { defaultDeadlineMs: this.deadlines.unaryMs }));
  }
  get analytics(): analyticsV1.AnalyticsServiceClient {
    return this.client('analytics', () => createClient(analyticsV1.AnalyticsServiceClient, this.targets.analytics, { defaultDeadlineMs: this.deadlines.unaryMs }));
  }
  get metrics(): metricsV1.MetricsServiceClient {
    return this.client('metrics', () => createClient(metricsV1.MetricsServiceClient, this.targets.metrics, { defaultDeadlineMs: this.deadlines.streamMs }));
  }
  get chat(): chatV1.ChatServiceClient {
    return this.client('chat', () => createClient(chatV1.ChatServiceClient, this.targets.chat, { defaultDeadlineMs: this.deadlines.unaryMs }));
  }
  get orders(): ordersV1.OrderServiceClient {
    return this.client('orders', () => createClient(ordersV1.OrderServiceClient, this.targets.orders, { defaultDeadlineMs: this.deadlines.unaryMs }));
  }

  /** Absolute deadline for a unary call starting now. */
  unaryDeadline(): Date {
    return new Date(Date.now() + this.deadlines.unaryMs);
  }

  /** Absolute deadline for a stream starting now. */
  streamDeadline(): Date {
    return new Date(Date.now() + this.deadlines.streamMs);
  }

  private client<C>(name: string, make: () => C): C {
    let c = this.made.get(name) as C | undefined;
    if (!c) {
      c = make();
      this.made.set(name, c);
    }
    return c;
  }
}
