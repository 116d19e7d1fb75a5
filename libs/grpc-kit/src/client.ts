/**
 * createClient(): clients that share one channel per target.
 *
 * A grpc-js channel owns the resolver, the load-balancing policy and its subchannels (HTTP/2
 * connections). Creating one per call pays DNS, TCP and the HTTP/2 handshake every time and
 * defeats load balancing; gRPC's performance guide says to reuse channels. So the kit keeps one
 * channel per (target, credentials, options) and hands it to every client for that target.
 */
import * as grpc from '@grpc/grpc-js';

/** A ts-proto generated client class (e.g. `authV1.AuthServiceClient`). */
export interface ClientConstructor<C> {
  new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>): C;
  service: grpc.ServiceDefinition;
}

/** Options of {@link createClient}. */
export interface CreateClientOptions {
  /** Default: {@link defaultChannelCredentials} (plaintext unless the process set TLS). */
  credentials?: grpc.ChannelCredentials;
  /**
   * Deadline given to unary and client-streaming calls that set none, ms (default 5000).
   * Server-streaming and bidi calls are long-lived by design and get none by default.
   */
  defaultDeadlineMs?: number;
  /** gRPC service config (grpc/grpc `doc/service_config.md`); default {@link defaultServiceConfig}. */
  serviceConfig?: ServiceConfig;
  /** Extra client interceptors, first = outermost, run after the default-deadline one. */
  interceptors?: grpc.Interceptor[];
  /** Channel arguments merged over {@link DEFAULT_CHANNEL_OPTIONS}. */
  channelOptions?: grpc.ChannelOptions;
  /**
   * Compress request messages with gzip (`grpc.default_compression_algorithm`). Worth it for
   * large, repetitive payloads only. grpc-js servers never compress their responses.
   */
  gzip?: boolean;
}

/** The subset of the gRPC service config this repo uses (JSON form, gRFC A6 for retries). */
export interface ServiceConfig {
  loadBalancingConfig?: Array<Record<string, unknown>>;
  methodConfig?: Array<{
    name: Array<{ service?: string; method?: string }>;
    timeout?: string;
    waitForReady?: boolean;
    retryPolicy?: {
      maxAttempts: number;
      initialBackoff: string;
      maxBackoff: string;
      backoffMultiplier: number;
      retryableStatusCodes: string[];
    };
  }>;
}

/**
 * round_robin over every address the resolver returns: with several replicas behind one
 * target, calls spread over all of them instead of pick_first's single connection.
 */
export const defaultServiceConfig: ServiceConfig = { loadBalancingConfig: [{ round_robin: {} }] };

/** Per-method settings of {@link methodServiceConfig}. */
export interface MethodPolicy {
  /** Full service name, "orders.v1.OrderService". */
  service: string;
  /** Method name ("PlaceOrder"); absent: every method of the service. */
  method?: string;
  /** Default deadline of calls that set none, ms (service config `timeout`). */
  timeoutMs?: number;
  /** Wait for a READY subchannel instead of failing fast with UNAVAILABLE (gRPC wait-for-ready semantics). */
  waitForReady?: boolean;
  /**
   * Status codes to retry (gRFC A6), e.g. ["UNAVAILABLE"]: the call was not processed. Add
   * "ABORTED" only for idempotent methods (orders.PlaceOrder with its idempotency key).
   */
  retryableStatusCodes?: string[];
  /** Attempts including the first, 2..5 (grpc caps it at 5); default 4. */
  maxAttempts?: number;
}

/**
 * A round_robin service config with one methodConfig per policy: timeout, waitForReady, and retries inside the
 * call's deadline with backoff 0.1 s, x2, at most 1 s, jittered. Source: gRFC A6, grpc/grpc `doc/service_config.md`.
 */
export function methodServiceConfig(policies: MethodPolicy[]): ServiceConfig {
  return {
    ...defaultServiceConfig,
    methodConfig: policies.map((p) => ({
      name: [p.method ? { service: p.service, method: p.method } : { service: p.service }],
      ...(p.timeoutMs !== undefined ? { timeout: durationString(p.timeoutMs) } : {}),
      ...(p.waitForReady !== undefined ? { waitForReady: p.waitForReady } : {}),
      ...(p.retryableStatusCodes?.length
        ? {
            retryPolicy: {
              maxAttempts: p.maxAttempts ?? 4,
              initialBackoff: '0.1s',
              maxBackoff: '1s',
              backoffMultiplier: 2,
              retryableStatusCodes: p.retryableStatusCodes,
            },
          }
        : {}),
    })),
  };
}

/**
 * A protobuf Duration in JSON form with all nine fraction digits ("0.100000000s" for 100 ms).
 * grpc-js 1.14 reads the fraction of a service config `timeout` as nanoseconds as written, so
 * "0.1s" would mean 1 ns there; nine digits are right for every parser.
 */
export function durationString(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const nanos = Math.round((ms - whole * 1000) * 1_000_000);
  return `${whole}.${String(nanos).padStart(9, '0')}s`;
}

/**
 * Channel arguments every client sets: a keepalive ping after 5 min (ms) on a connection with
 * calls open, none while idle, 20 s to answer (gRFC A8). 5 min is the least that grpc-go and
 * C-core servers accept by default; see docs/reliability.md "Keepalive pairing (gRFC A8)".
 */
export const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 300_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
};

const channels = new Map<string, grpc.Channel>();

let processCredentials: grpc.ChannelCredentials | undefined;

/**
 * Sets the credentials of every later {@link createClient} without its own (`undefined`: plaintext); channels
 * made before keep theirs. `useTlsFromConfig()` of @grpc-patterns/runtime calls it (docs/tls.md).
 */
export function setDefaultChannelCredentials(credentials: grpc.ChannelCredentials | undefined): void {
  processCredentials = credentials;
}

/** What {@link createClient} uses without `credentials`: the process default, else insecure. */
export function defaultChannelCredentials(): grpc.ChannelCredentials {
  return processCredentials ?? grpc.credentials.createInsecure();
}

/**
 * A client of the generated class for `target` (gRPC target URI: `ipv4:127.0.0.1:50051`, `dns:///auth:50051`) on
 * the shared channel of that target. Never `close()` it: use {@link closeAllChannels} (README "createClient").
 */
export function createClient<C extends grpc.Client>(Client: ClientConstructor<C>, target: string, options: CreateClientOptions = {}): C {
  const credentials = options.credentials ?? defaultChannelCredentials();
  const channelOptions: grpc.ChannelOptions = {
    ...DEFAULT_CHANNEL_OPTIONS,
    'grpc.service_config': JSON.stringify(options.serviceConfig ?? defaultServiceConfig),
    ...(options.gzip ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {}),
    ...options.channelOptions,
  };
  const key = `${target}\u0000${credentialsId(credentials)}\u0000${JSON.stringify(channelOptions)}`;
  let channel = channels.get(key);
  // A client's close() shuts its (shared) channel down: never hand out a dead one.
  if (!channel || channel.getConnectivityState(false) === grpc.connectivityState.SHUTDOWN) {
    channel = new grpc.Channel(target, credentials, channelOptions);
    channels.set(key, channel);
  }
  return new Client(target, credentials, {
    channelOverride: channel,
    interceptors: [defaultDeadline(options.defaultDeadlineMs ?? 5_000), ...(options.interceptors ?? [])],
  });
}

/** Closes every shared channel (tests and shutdown). Clients made before stop working. */
export function closeAllChannels(): void {
  for (const channel of channels.values()) channel.close();
  channels.clear();
}

/** Number of shared channels open (for tests and the channel-reuse benchmark). */
export function openChannelCount(): number {
  return channels.size;
}

/**
 * Client interceptor: a unary or client-streaming call without a deadline gets one `ms` from
 * now (nice-grpc's `deadlineMiddleware` does the same). Calls that set their own keep it.
 */
export function defaultDeadline(ms: number): grpc.Interceptor {
  return (options, nextCall) => {
    const streaming = options.method_definition.responseStream;
    if (options.deadline === undefined && !streaming && ms > 0) {
      return new grpc.InterceptingCall(nextCall({ ...options, deadline: Date.now() + ms }));
    }
    return new grpc.InterceptingCall(nextCall(options));
  };
}

const credentialIds = new WeakMap<grpc.ChannelCredentials, number>();
let nextCredentialId = 1;
/** Insecure credentials are all alike (one channel); secure ones are told apart by identity. */
function credentialsId(credentials: grpc.ChannelCredentials): number {
  if (!credentials._isSecure()) return 0;
  let id = credentialIds.get(credentials);
  if (id === undefined) {
    id = nextCredentialId++;
    credentialIds.set(credentials, id);
  }
  return id;
}

/** Per-call options of {@link unaryCall}. */
export interface UnaryCallOptions {
  metadata?: grpc.Metadata;
  /** Absolute deadline (Date or ms since epoch); default: the client's default deadline. */
  deadline?: grpc.Deadline;
}

/** What {@link unaryCallDetailed} resolves to. */
export interface UnaryResult<Res> {
  response: Res;
  /** Response headers (initial metadata). */
  headers: grpc.Metadata;
  /** Trailing metadata. */
  trailers: grpc.Metadata;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Promise form of a generated unary method: `await unaryCall(client.getUser.bind(client), req)`.
 *
 * @throws grpc.ServiceError with the call's status code and details.
 */
export async function unaryCall<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: UnaryCallOptions = {}): Promise<Res> {
  return (await unaryCallDetailed(method, request, options)).response;
}

/** {@link unaryCall} that also returns response headers and trailers. */
export function unaryCallDetailed<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: UnaryCallOptions = {}): Promise<UnaryResult<Res>> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let result: { error: grpc.ServiceError | null; response?: Res } | undefined;
    let trailers: grpc.Metadata | undefined;
    const settle = () => {
      if (!result || !trailers) return;
      if (result.error) reject(result.error);
      else resolve({ response: result.response as Res, headers, trailers });
    };
    const callOptions: Partial<grpc.CallOptions> = {};
    if (options.deadline !== undefined) callOptions.deadline = options.deadline;
    const call = method(request, options.metadata ?? new grpc.Metadata(), callOptions, (error, response) => {
      result = { error, response };
      trailers ??= error?.metadata ?? new grpc.Metadata();
      settle();
    });
    call.on('metadata', (md) => (headers = md));
    call.on('status', (st) => {
      trailers = st.metadata;
      settle();
    });
  });
}
