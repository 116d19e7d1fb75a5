/**
 * Wiring for services: one call registers the resolvers and the canary policy, one builds the
 * registrar that `DISCOVERY` asks for. The variables are parsed by `discoveryEnv()` in
 * @grpc-patterns/config; this file only needs their parsed shape.
 */
import { networkInterfaces } from 'node:os';
import { registerCanaryPolicy } from './canary.js';
import { ConsulRegistrar } from './consul-registrar.js';
import { registerConsulResolver } from './consul-resolver.js';
import { parseEtcdEndpoints } from './etcd-client.js';
import { EtcdRegistrar } from './etcd-registrar.js';
import { registerEtcdResolver } from './etcd-resolver.js';
import type { Registrar } from './registrar.js';

/** The parsed discovery variables (see `discoveryEnv()` in @grpc-patterns/config). */
export interface DiscoveryConfig {
  /** Where this instance registers: nowhere, the Consul agent, or etcd. */
  DISCOVERY: 'none' | 'consul' | 'etcd';
  /** Consul agent, `host:port` or URL. */
  CONSUL_HTTP_ADDR: string;
  /** etcd client URLs, comma-separated. */
  ETCD_ENDPOINTS: string;
  /** Written as metadata `version` (canary routing). */
  SERVICE_VERSION: string;
  /** Host clients should dial; default GRPC_HOST, or this machine's first non-internal IPv4 when bound to 0.0.0.0. */
  DISCOVERY_ADVERTISE_HOST?: string;
  /** The server's TLS mode (`tlsEnv()`): Consul's gRPC health check dials with TLS unless `off`. */
  TLS_MODE?: 'off' | 'tls' | 'mtls';
}

/**
 * Registers `etcd:` and `consul:` with grpc-js (endpoints and agent from `config`) and the
 * `canary` policy, so every `*_TARGET` of the process may use them. Idempotent.
 */
export function registerDiscovery(config?: Partial<DiscoveryConfig>): void {
  registerEtcdResolver(config?.ETCD_ENDPOINTS ? { endpoints: parseEtcdEndpoints(config.ETCD_ENDPOINTS) } : {});
  registerConsulResolver(config?.CONSUL_HTTP_ADDR ? { address: config.CONSUL_HTTP_ADDR } : {});
  registerCanaryPolicy();
}

/** Identity of the instance being registered. */
export interface RegistrarTarget {
  /** Registry name clients resolve ("orders"). */
  service: string;
  /** Full gRPC service name Consul's gRPC check asks health about ("orders.v1.OrderService"). */
  healthService?: string;
  /** Told when an etcd lease was lost and the instance registered again. */
  onReregister?: (error: Error) => void;
}

/** The registrar `config.DISCOVERY` selects, or undefined for `none`. */
export function createRegistrar(config: DiscoveryConfig, target: RegistrarTarget): Registrar | undefined {
  const metadata = { version: config.SERVICE_VERSION };
  switch (config.DISCOVERY) {
    case 'etcd':
      return new EtcdRegistrar({ service: target.service, endpoints: parseEtcdEndpoints(config.ETCD_ENDPOINTS), metadata, onReregister: target.onReregister });
    case 'consul':
      return new ConsulRegistrar({ service: target.service, address: config.CONSUL_HTTP_ADDR, meta: metadata, healthService: target.healthService, grpcUseTls: (config.TLS_MODE ?? 'off') !== 'off' });
    default:
      return undefined;
  }
}

/**
 * The host to advertise for a server bound to `grpcHost`: the override, else `grpcHost`, else
 * (wildcard bind) the first non-internal IPv4 address, else 127.0.0.1.
 */
export function advertiseHost(grpcHost: string, override?: string): string {
  if (override) return override;
  if (grpcHost !== '0.0.0.0' && grpcHost !== '::') return grpcHost;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** What {@link discoveryForServe} returns: spread it into `serve()`'s options. */
export interface ServeDiscovery {
  /** Undefined for `DISCOVERY=none`. */
  registrar?: Registrar;
  advertiseHost: string;
}

/**
 * Everything a service's main.ts needs, in one call made right after the config is loaded
 * (before any client is created, so `*_TARGET=etcd:///auth` resolves): registers the resolvers
 * and the canary policy, and returns the registrar and the advertised host for `serve()`.
 */
export function discoveryForServe(config: DiscoveryConfig & { GRPC_HOST: string }, target: RegistrarTarget): ServeDiscovery {
  registerDiscovery(config);
  const registrar = createRegistrar(config, target);
  return { ...(registrar ? { registrar } : {}), advertiseHost: advertiseHost(config.GRPC_HOST, config.DISCOVERY_ADVERTISE_HOST) };
}
