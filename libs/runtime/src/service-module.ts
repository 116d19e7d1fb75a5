/**
 * The contract between the runtime and a service: the module an app's main.ts hands to
 * runService (apps/<name>/src/service.ts).
 */
import type { Env } from '@grpc-patterns/config';
import type { Logger } from '@grpc-patterns/observability';
import type * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { ServeOptions } from './serve.js';

/** What the runtime made before it calls {@link ServiceModule.start}: resolvers and TLS are set. */
export interface ServiceContext<Config> {
  config: Config;
  logger: Logger;
  /** The process registry; /metrics serves it. */
  registry: Registry;
  /** Client interceptors for a downstream channel: deadline, request id and trace carried on (orders -> auth). */
  clientInterceptors(): grpc.Interceptor[];
}

/** What a service's start() returns: its registrations and the serve() options it needs. */
export type ServiceSetup = Pick<ServeOptions, 'services'> &
  Partial<Pick<ServeOptions, 'afterStop' | 'beforeDrain' | 'keySource' | 'validation' | 'serverOptions' | 'policy'>> & {
    /** Run when serving fails to start after start() returned (close what it opened); errors ignored. */
    onStartFailure?: () => Promise<void>;
  };

/** An app's service module. */
export interface ServiceModule<Config = any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- each app's own config type
  /** Parses the environment; throws ConfigError naming the variable (the runtime exits 78). */
  loadConfig(env: Env): Config;
  /** Opens stores and builds the handlers. */
  start(context: ServiceContext<Config>): Promise<ServiceSetup>;
}
