/**
 * Registers an instance with the local Consul agent (`PUT /v1/agent/service/register`) with a
 * native gRPC health check: Consul calls grpc.health.v1.Health/Check on the instance, so the
 * NOT_SERVING that startServer() sets on shutdown takes it out of `passing` results even
 * before deregistration, and `DeregisterCriticalServiceAfter` reaps instances that crashed.
 */
import { consulBaseUrl, consulHeaders, type ConsulServiceRegistration } from './consul.js';
import type { AdvertisedAddress, Registrar } from './registrar.js';

/** Options of {@link ConsulRegistrar}. */
export interface ConsulRegistrarOptions {
  /** Consul service name ("orders"): what clients put in `consul://host:8500/<service>`. */
  service: string;
  /** Agent address; default `CONSUL_HTTP_ADDR`, else 127.0.0.1:8500. */
  address?: string;
  /** ACL token; default `CONSUL_HTTP_TOKEN`. */
  token?: string;
  /** Service ID, unique on the agent; default `<service>-<host>-<port>`. */
  instanceId?: string;
  /** Service Meta (`version` drives canary routing). */
  meta?: Record<string, string>;
  tags?: string[];
  /** grpc.health.v1 service name the check asks about; default "" (the whole server). */
  healthService?: string;
  /** Check interval, s (default 5). */
  checkIntervalSeconds?: number;
  /** Remove the instance after it has been critical this long, s (default 60; Consul's minimum is 60). */
  deregisterCriticalAfterSeconds?: number;
  /**
   * The instance serves TLS (`TLS_MODE=tls|mtls`): the check dials it with TLS (`GRPCUseTLS`),
   * verifying the server certificate against the agent's `tls.defaults.ca_file`; for mtls the
   * agent also needs `tls.defaults.cert_file`/`key_file` from the same CA (docs/tls.md). Default false.
   */
  grpcUseTls?: boolean;
}

/** Consul registrar: agent service register / deregister. */
export class ConsulRegistrar implements Registrar {
  private registeredId: string | undefined;

  constructor(private readonly options: ConsulRegistrarOptions) {}

  /** The body `register()` sends, for an address (exported for tests and docs). */
  registration(address: AdvertisedAddress): ConsulServiceRegistration {
    const o = this.options;
    const hostPort = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    return {
      ID: o.instanceId ?? `${o.service}-${address.host}-${address.port}`,
      Name: o.service,
      Address: address.host,
      Port: address.port,
      ...(o.tags?.length ? { Tags: o.tags } : {}),
      Meta: { ...o.meta },
      Check: {
        Name: `gRPC health of ${o.service}`,
        GRPC: o.healthService ? `${hostPort}/${o.healthService}` : hostPort,
        GRPCUseTLS: o.grpcUseTls ?? false,
        Interval: `${o.checkIntervalSeconds ?? 5}s`,
        Timeout: '2s',
        DeregisterCriticalServiceAfter: `${o.deregisterCriticalAfterSeconds ?? 60}s`,
      },
    };
  }

  async register(address: AdvertisedAddress): Promise<void> {
    if (this.registeredId) return;
    const body = this.registration(address);
    await this.put('/v1/agent/service/register?replace-existing-checks=true', JSON.stringify(body));
    this.registeredId = body.ID;
  }

  async deregister(): Promise<void> {
    const id = this.registeredId;
    if (!id) return;
    this.registeredId = undefined;
    await this.put(`/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  }

  private async put(path: string, body?: string): Promise<void> {
    const url = `${consulBaseUrl(this.options.address ?? process.env['CONSUL_HTTP_ADDR'])}${path}`;
    const headers: Record<string, string> = { ...consulHeaders(this.options.token ?? process.env['CONSUL_HTTP_TOKEN']) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`consul registrar: PUT ${path.split('?')[0]}: HTTP ${response.status} ${(await response.text()).slice(0, 200).trim()}`);
  }
}
