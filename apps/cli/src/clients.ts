/**
 * The generated clients the CLI uses, one per service, on grpc-kit's shared channel per target
 * (so `tour` opens one HTTP/2 connection per service however many calls it makes), and the one
 * place where the access token is put on calls: {@link bearerTokenInterceptor}.
 */
import * as grpc from '@grpc/grpc-js';
import { createClient, methodServiceConfig } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1, ordersV1 } from '@grpc-patterns/proto';
import { decodeJwt } from 'jose';
import type { Targets } from './config.js';

/** Metadata key of the access token (RFC 6750 section 2.1: `authorization: Bearer <token>`). */
export const AUTHORIZATION_KEY = 'authorization';

/**
 * Client interceptor adding `authorization: Bearer <token>` to every call while `token()`, read per call,
 * returns one; a call that already has an `authorization` entry keeps it.
 * See README "Explanation: The token in one place".
 */
export function bearerTokenInterceptor(token: () => string | undefined): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        const value = token();
        if (value && metadata.get(AUTHORIZATION_KEY).length === 0) metadata.set(AUTHORIZATION_KEY, `Bearer ${value}`);
        next(metadata, listener);
      },
    });
}

/**
 * The `sub` claim (user id) of a JWT, read WITHOUT verifying it: the CLI only uses it as the
 * default `user_id` of its own orders; the services verify the token on every call.
 * Undefined when the token is not a JWT or has no string `sub`.
 */
export function tokenSubject(token: string): string | undefined {
  try {
    const sub = decodeJwt(token).sub;
    return typeof sub === 'string' && sub !== '' ? sub : undefined;
  } catch {
    return undefined;
  }
}

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
 * Service configs (gRFC A6 retries, wait-for-ready) of auth and orders, as a production client sets them.
 * Why these codes: README "Explanation: Retries".
 */
export const SERVICE_CONFIGS = {
  auth: methodServiceConfig([{ service: 'auth.v1.AuthService', retryableStatusCodes: ['UNAVAILABLE'] }]),
  orders: methodServiceConfig([
    { service: 'orders.v1.OrderService', method: 'PlaceOrder', retryableStatusCodes: ['UNAVAILABLE', 'ABORTED'], waitForReady: true },
    { service: 'orders.v1.OrderService', method: 'GetOrder', retryableStatusCodes: ['UNAVAILABLE'] },
    { service: 'orders.v1.OrderService', method: 'ListOrders', retryableStatusCodes: ['UNAVAILABLE'] },
  ]),
};

/**
 * The clients of every service, made on first use; deliberately no close(): closeAllChannels() at
 * exit (README "Explanation: Shared channels").
 */
export class Clients {
  private made = new Map<string, unknown>();
  private accessToken: string | undefined;
  private user: string | undefined;
  private readonly interceptors = [bearerTokenInterceptor(() => this.accessToken)];

  constructor(
    readonly targets: Targets,
    readonly deadlines: Deadlines = DEFAULT_DEADLINES,
    token?: string,
    /** Compress request messages with gzip on every channel (`--gzip`; grpc-kit createClient's `gzip`). */
    readonly gzip = false,
  ) {
    if (token) this.useToken(token);
  }

  /**
   * Every later call carries `authorization: Bearer <token>`. `userId` is the user the token
   * was issued to (Login's response); default: the token's `sub` claim.
   */
  useToken(token: string, userId?: string): void {
    this.accessToken = token;
    this.user = userId ?? tokenSubject(token);
  }

  /** The access token calls carry, if any. */
  get token(): string | undefined {
    return this.accessToken;
  }

  /** The id of the user the token belongs to, if known. */
  get userId(): string | undefined {
    return this.user;
  }

  /** Clients for the same targets and deadlines that send no token (on the same channels). */
  withoutToken(): Clients {
    return new Clients(this.targets, this.deadlines, undefined, this.gzip);
  }

  get auth(): authV1.AuthServiceClient {
    return this.client('auth', () => createClient(authV1.AuthServiceClient, this.targets.auth, { gzip: this.gzip, defaultDeadlineMs: this.deadlines.unaryMs, interceptors: this.interceptors, serviceConfig: SERVICE_CONFIGS.auth }));
  }
  get analytics(): analyticsV1.AnalyticsServiceClient {
    return this.client('analytics', () => createClient(analyticsV1.AnalyticsServiceClient, this.targets.analytics, { gzip: this.gzip, defaultDeadlineMs: this.deadlines.unaryMs, interceptors: this.interceptors }));
  }
  get metrics(): metricsV1.MetricsServiceClient {
    return this.client('metrics', () => createClient(metricsV1.MetricsServiceClient, this.targets.metrics, {
        gzip: this.gzip,
        defaultDeadlineMs: this.deadlines.streamMs,
        interceptors: this.interceptors,
        // An upload is one long client stream: grpc-js would keep (and copy) up to 1 MiB of sent
        // messages per call for transparent retries, slowing the stream down more the longer it
        // runs (measured: about 7,300 points/s instead of 17,000). An upload is not retried anyway.
        channelOptions: { 'grpc.enable_retries': 0 },
      }));
  }
  get chat(): chatV1.ChatServiceClient {
    return this.client('chat', () => createClient(chatV1.ChatServiceClient, this.targets.chat, { gzip: this.gzip, defaultDeadlineMs: this.deadlines.unaryMs, interceptors: this.interceptors }));
  }
  get orders(): ordersV1.OrderServiceClient {
    return this.client('orders', () => createClient(ordersV1.OrderServiceClient, this.targets.orders, { gzip: this.gzip, defaultDeadlineMs: this.deadlines.unaryMs, interceptors: this.interceptors, serviceConfig: SERVICE_CONFIGS.orders }));
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
