/**
 * startServer(): the one way every service in this repo serves gRPC.
 *
 * - bindAsync with its error handled (a taken port rejects with the address in the message);
 * - grpc.health.v1.Health with Watch, for "" and for each service's full name, SERVING only
 *   after the bind succeeded and NOT_SERVING as soon as shutdown starts (grpc-node
 *   `examples/health_check`; protocol: grpc/grpc `doc/health-checking.md`);
 * - server reflection (v1 and v1alpha) over the descriptor set generated from proto/, so
 *   `buf curl`, grpcurl and grpcui work without .proto files;
 * - interceptors, first = outermost;
 * - graceful shutdown on SIGTERM/SIGINT (shutdown.ts): NOT_SERVING -> hooks (deregistration) ->
 *   propagation wait -> open streams ended with UNAVAILABLE -> tryShutdown -> forceShutdown when
 *   `shutdownGraceMs` runs out. Unary calls in flight are allowed to finish.
 */
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { descriptorSetBase64 } from '@grpc-patterns/proto';
import { HealthImplementation } from 'grpc-health-check';
import { isIPv6 } from 'node:net';
import type { Logger } from '@grpc-patterns/observability';
import { decodeLimitInterceptor, isDecodeLimitInterceptor } from './decode-limit.js';
import { setUnexpectedErrorReporter } from './handlers.js';
import { drain, shutdownOnSignals, trackStreams, type OpenStream } from './shutdown.js';

export { SHUTDOWN_BACKSTOP_MS } from './shutdown.js';

/** One gRPC service to serve: its generated definition, implementation and full name. */
export interface ServiceRegistration {
  /** Full name as in proto, e.g. "auth.v1.AuthService" (health status is kept under it). */
  name: string;
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  services: ServiceRegistration[];
  /** Interface to bind; default "0.0.0.0". */
  host?: string;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Default: insecure (plaintext), the local default. */
  credentials?: grpc.ServerCredentials;
  /** Server interceptors, first = outermost. */
  interceptors?: grpc.ServerInterceptor[];
  /** Channel arguments merged over {@link DEFAULT_SERVER_OPTIONS}. */
  serverOptions?: grpc.ServerOptions;
  logger: Logger;
  /** From SIGTERM to forceShutdown, ms. */
  shutdownGraceMs: number;
  /** Wait after NOT_SERVING before closing, so load balancers and resolvers see it, ms (default 0). */
  propagationDelayMs?: number;
  /** Handle SIGTERM and SIGINT (default true; tests pass false and call shutdown()). */
  handleSignals?: boolean;
  /** Run after NOT_SERVING, before draining (e.g. deregister from discovery). */
  beforeDrain?: Array<() => Promise<void>>;
  /** Run after the server has stopped (close stores, flush exporters). */
  afterStop?: Array<() => Promise<void>>;
}

/** A started server. */
export interface RunningServer {
  server: grpc.Server;
  /** The bound port (useful when 0 was asked for). */
  port: number;
  /** `host:port` a client on this machine can dial (127.0.0.1 when bound to 0.0.0.0). */
  address: string;
  health: HealthImplementation;
  /** Server-streaming and bidi calls open now, health Watch and reflection streams included. */
  openStreams(): number;
  /** Graceful shutdown as described above; resolves when the server has stopped. Idempotent. */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Channel arguments every server sets: keepalive, message, stream, session memory and connection age limits. Each
 * value, grpc-js' default, the reason and its test: docs/reliability.md "Server limits" and "Keepalive pairing".
 */
export const DEFAULT_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_concurrent_streams': 100,
  'grpc-node.max_session_memory': 32,
  'grpc.max_connection_idle_ms': 5 * 60_000,
  'grpc.max_connection_age_ms': 30 * 60_000,
  'grpc.max_connection_age_grace_ms': 60 * 60_000,
};

let cachedReflectionPackage: PackageDefinition | undefined;

/**
 * The reflection package: every proto of this repo and grpc.health.v1, exactly as `buf build`
 * produced them (libs/proto/scripts/codegen.mjs). @grpc/reflection indexes the `fileDescriptorProtos` of every entry, so one
 * entry carrying the original files is enough. (proto-loader's loadFileDescriptorSetFromBuffer
 * re-serializes the files and attaches the wrong file to some types, which makes `buf curl`
 * fail with "failed to find service"; hence the raw files.)
 */
function reflectionPackage(): PackageDefinition {
  if (!cachedReflectionPackage) {
    const files: Buffer[] = [];
    // google.protobuf.FileDescriptorSet { repeated FileDescriptorProto file = 1; }
    const reader = new BinaryReader(Buffer.from(descriptorSetBase64, 'base64'));
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
      else reader.skip(wireType);
    }
    cachedReflectionPackage = {
      'grpc-patterns.files': { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos: files },
    } as unknown as PackageDefinition;
  }
  return cachedReflectionPackage;
}

/**
 * Binds, registers health and reflection, and starts serving.
 *
 * @throws Error when the address cannot be bound (message names host:port and the cause).
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { logger } = options;
  setUnexpectedErrorReporter((error, method) => logger.error({ err: error, method }, 'unexpected error in handler'));
  const server = new grpc.Server({
    ...DEFAULT_SERVER_OPTIONS,
    ...options.serverOptions,
    interceptors: withDecodeLimitInterceptor(options.interceptors ?? []),
  });

  const streams = new Set<OpenStream>();
  for (const service of options.services) {
    server.addService(service.definition, trackStreams(service, streams));
  }

  const health = new HealthImplementation({ '': 'NOT_SERVING', ...Object.fromEntries(options.services.map((s) => [s.name, 'NOT_SERVING'])) });
  // Health Watch and reflection streams are tracked like the services' own streams, so
  // shutdown ends them too instead of waiting for clients to hang up.
  const trackingServer = {
    addService: (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) =>
      server.addService(definition, trackStreams({ definition, implementation }, streams)),
  };
  health.addToServer(trackingServer as unknown as grpc.Server);
  new ReflectionService(reflectionPackage(), {
    services: [...options.services.map((s) => s.name), 'grpc.health.v1.Health'],
  }).addToServer(trackingServer);

  const host = options.host ?? '0.0.0.0';
  // An IPv6 literal ("::" for dual stack, "::1") goes in brackets in a host:port address.
  const bindHost = isIPv6(host) ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bindHost}:${options.port}`, options.credentials ?? grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(new Error(`cannot bind gRPC server to ${host}:${options.port}: ${error.message}`));
      else resolve(bound);
    });
  });

  health.setStatus('', 'SERVING');
  for (const s of options.services) health.setStatus(s.name, 'SERVING');
  const dialHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown requested'): Promise<void> => {
    stopping ??= drain(reason, server, health, streams, options);
    return stopping;
  };
  if (options.handleSignals ?? true) shutdownOnSignals(shutdown, logger, options.shutdownGraceMs);

  logger.info({ address: `${host}:${port}`, services: options.services.map((s) => s.name) }, 'serving');
  return { server, port, address: `${dialHost}:${port}`, health, openStreams: () => streams.size, shutdown };
}

/**
 * The chain with a {@link decodeLimitInterceptor} innermost when it has none, so a message
 * refused by a decode limit ({@link withDecodeLimit}) always ends its call with its status.
 */
function withDecodeLimitInterceptor(interceptors: grpc.ServerInterceptor[]): grpc.ServerInterceptor[] {
  return interceptors.some(isDecodeLimitInterceptor) ? interceptors : [...interceptors, decodeLimitInterceptor()];
}
