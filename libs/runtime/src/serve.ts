/**
 * serve(): the last step of runService's start-up (start.ts), after tracing, config, resolvers
 * and the service's handlers: the /metrics endpoint, the server interceptor chain,
 * startServer(), shutdown hooks that flush spans and close channels, and (optionally)
 * registration in discovery: register once SERVING, deregister first on shutdown.
 */
import {
  closeAllChannels,
  setDefaultChannelCredentials,
  startServer,
  tlsCredentialsFromFiles,
  type RunningServer,
  type ServiceRegistration,
  type StartServerOptions,
  type TlsCredentials,
  type TlsMode,
} from '@grpc-patterns/grpc-kit';
import { registerLogMetrics, startMetricsServer, type Logger, type Tracing } from '@grpc-patterns/observability';
import type { Registry } from 'prom-client';
import { grpcKeySource, type KeySource } from '@grpc-patterns/interceptors';
import { serverInterceptorChain, type ServerChainOptions } from '@grpc-patterns/interceptors';
import { rateLimiterFromConfig, type RateLimitFailMode } from '@grpc-patterns/interceptors';

/** The common variables of every service (`serviceEnv()` from @grpc-patterns/config). */
export interface ServeConfig {
  GRPC_HOST: string;
  GRPC_PORT: number;
  METRICS_PORT: number;
  SHUTDOWN_GRACE_MS: number;
  /** Rate limits in Redis, shared by the replicas (`rateLimitEnv()`); unset: in memory. */
  REDIS_URL?: string | undefined;
  /** Redis down: `open` lets calls through, `closed` answers UNAVAILABLE; default open. */
  RATE_LIMIT_FAIL?: RateLimitFailMode | undefined;
  /** Steady calls per second per principal and method (`rateLimitEnv()`); default 100. */
  RATE_LIMIT_RPS?: number | undefined;
  /** Extra burst on top of it, refilled over 10 s; 0 = none; default 200. */
  RATE_LIMIT_BURST?: number | undefined;
  /** Failed token checks a peer address may cause per AUTH_FAILURE_WINDOW_S (`rateLimitEnv()`); 0 = off; default 100. */
  AUTH_FAILURES_PER_PEER?: number | undefined;
  /** Window of AUTH_FAILURES_PER_PEER, s; default 60. */
  AUTH_FAILURE_WINDOW_S?: number | undefined;
  /** Where auth is (`authTargetEnv()`): its GetPublicKeys verifies tokens unless `keySource` is given. */
  AUTH_TARGET?: string;
  /** TLS of the server and of every outgoing channel (`tlsEnv()`, part of `serviceEnv()`); default off. */
  TLS_MODE?: TlsMode;
  TLS_CERT_FILE?: string | undefined;
  TLS_KEY_FILE?: string | undefined;
  TLS_CA_FILE?: string | undefined;
}

/** The TLS variables of a service's config ({@link ServeConfig}). */
export type TlsConfig = Pick<ServeConfig, 'TLS_MODE' | 'TLS_CERT_FILE' | 'TLS_KEY_FILE' | 'TLS_CA_FILE'>;

let processTls: { key: string; credentials: TlsCredentials } | undefined;

/**
 * The process' TLS credentials from its config, built once and made the default of every later
 * `createClient()` (docs/tls.md "Where the credentials are built"). @throws Error naming an unreadable file.
 */
export function useTlsFromConfig(config: TlsConfig): TlsCredentials {
  const files = { mode: config.TLS_MODE ?? 'off', certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, caFile: config.TLS_CA_FILE };
  const key = JSON.stringify(files);
  if (processTls?.key !== key) {
    processTls = { key, credentials: tlsCredentialsFromFiles(files) };
    setDefaultChannelCredentials(files.mode === 'off' ? undefined : processTls.credentials.channel);
  }
  return processTls.credentials;
}

/** How long serve() waits for the rate limiter's Redis connection before serving anyway, ms. */
export const RATE_LIMIT_STORE_READY_TIMEOUT_MS = 2_000;

/**
 * Registers this instance in a discovery registry (structurally the `Registrar` of
 * @grpc-patterns/discovery: `EtcdRegistrar`, `ConsulRegistrar`). Both methods idempotent.
 */
export interface ServeRegistrar {
  /** Adds `host:port` to the registry; resolves once it is there. */
  register(address: { host: string; port: number }): Promise<void>;
  /** Removes it again (a no-op when nothing was registered). */
  deregister(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions extends Omit<ServerChainOptions, 'logger' | 'registry' | 'keySource'> {
  /**
   * Where access-token keys come from; default grpcKeySource over `config.AUTH_TARGET` (every
   * service but auth, which passes staticKeySource with its own keys).
   */
  keySource?: KeySource;
  config: ServeConfig;
  logger: Logger;
  tracing: Tracing;
  registry: Registry;
  services: ServiceRegistration[];
  /**
   * Channel arguments over grpc-kit's DEFAULT_SERVER_OPTIONS, e.g. a lower
   * `grpc.max_receive_message_length` for a service whose largest request is small (metrics:
   * MAX_POINT_BYTES), so an oversize message is refused at its length prefix, before it is buffered.
   */
  serverOptions?: StartServerOptions['serverOptions'];
  /** Run after NOT_SERVING, before draining (deregistration). */
  beforeDrain?: Array<() => Promise<void>>;
  /** Run after the server stopped, before spans are flushed and channels closed (close stores). */
  afterStop?: Array<() => Promise<void>>;
  /**
   * Registers the instance once it is SERVING and deregisters it first thing on shutdown
   * (before the other beforeDrain hooks), so clients stop picking it before it drains.
   */
  registrar?: ServeRegistrar;
  /** Host to register (clients dial it); default GRPC_HOST, or 127.0.0.1 when that is a wildcard. */
  advertiseHost?: string;
  /**
   * Wait between deregistration and draining, ms, so resolvers (etcd watch, Consul blocking
   * query: milliseconds) and their channels see the removal. Default 1000 with a registrar, else 0.
   */
  propagationDelayMs?: number;
}

/**
 * Serves `/metrics`, then the services behind {@link serverInterceptorChain} with the config's TLS
 * and rate limiter; shutdown order and the why: libs/runtime/README.md. @throws Error naming the
 * address when a port cannot be bound (the metrics endpoint is closed again).
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const { config, logger } = options;
  // Before anything dials out (the key source's channel to auth is made on first use).
  const tls = useTlsFromConfig(config);
  // log_lines_dropped_total: lines the bounded stdout buffer dropped (stdout not read).
  registerLogMetrics(options.registry, logger);
  const metrics = await startMetricsServer({ registry: options.registry, port: config.METRICS_PORT, host: config.GRPC_HOST, logger });
  // Built here (and closed here) only when the app brought no limiter of its own.
  const ownLimiter = options.limiter ? undefined : rateLimiterFromConfig(config, logger);
  try {
    if (ownLimiter && !(await ownLimiter.ready(RATE_LIMIT_STORE_READY_TIMEOUT_MS))) {
      logger.warn({ failMode: ownLimiter.failMode }, 'rate limiter store not reachable yet: serving anyway');
    }
    const { registrar } = options;
    const deregister = async () => {
      await registrar?.deregister();
      if (registrar) logger.info('deregistered from discovery');
    };
    const running = await startServer({
      services: options.services,
      host: config.GRPC_HOST,
      port: config.GRPC_PORT,
      credentials: tls.server,
      serverOptions: options.serverOptions,
      logger,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      interceptors: serverInterceptorChain({
        ...options,
        keySource: keySourceFor(options),
        limiter: options.limiter ?? ownLimiter,
        logger,
        registry: options.registry,
        authFailureBudget: options.authFailureBudget ?? { failures: config.AUTH_FAILURES_PER_PEER, windowS: config.AUTH_FAILURE_WINDOW_S },
      }),
      beforeDrain: [...(registrar ? [deregister] : []), ...(options.beforeDrain ?? [])],
      propagationDelayMs: options.propagationDelayMs ?? (registrar ? 1_000 : 0),
      afterStop: [...(options.afterStop ?? []), ...(ownLimiter ? [() => ownLimiter.close()] : []), () => metrics.close(), () => options.tracing.shutdown(), async () => closeAllChannels()],
    });
    if (registrar) {
      const host = options.advertiseHost ?? (config.GRPC_HOST === '0.0.0.0' || config.GRPC_HOST === '::' ? '127.0.0.1' : config.GRPC_HOST);
      try {
        // Only now: the server is bound and health says SERVING, so no client is sent to an
        // instance that cannot answer yet.
        await registrar.register({ host, port: running.port });
        logger.info({ address: `${host}:${running.port}` }, 'registered in discovery');
      } catch (error) {
        // Fail fast: an instance nobody can find is not serving (the orchestrator restarts it).
        await running.shutdown('registration failed');
        throw error;
      }
    }
    if (tls.mode !== 'off') logger.info({ mode: tls.mode, cert: config.TLS_CERT_FILE, ca: config.TLS_CA_FILE }, 'TLS on: server and outgoing channels');
    return running;
  } catch (error) {
    await ownLimiter?.close().catch(() => undefined);
    await metrics.close().catch(() => undefined);
    throw error;
  }
}

/**
 * The app's key source, or one fetching auth's JWKS from AUTH_TARGET (fetch failures logged).
 *
 * @throws Error when neither a key source nor AUTH_TARGET is given (a wiring mistake).
 */
function keySourceFor(options: ServeOptions): KeySource {
  if (options.keySource) return options.keySource;
  const target = options.config.AUTH_TARGET;
  if (!target) throw new Error('serve(): pass keySource, or set AUTH_TARGET in the config');
  return grpcKeySource({ target, onFetchError: (err) => options.logger.warn({ err }, 'fetching token keys from auth failed') });
}
