/**
 * Consul HTTP API basics shared by the resolver and the registrar (Consul docs: "HTTP API",
 * "Blocking Queries", "Health - Service", "Agent - Service").
 */

/** Consul's default agent address (what the consul CLI uses when `CONSUL_HTTP_ADDR` is unset). */
export const DEFAULT_CONSUL_HTTP_ADDR = '127.0.0.1:8500';

/**
 * The agent's base URL from `CONSUL_HTTP_ADDR`-style input: `host:port`, `http://host:port` or
 * `https://host:port` (the consul CLI accepts the same), without a trailing slash.
 */
export function consulBaseUrl(address: string | undefined): string {
  const value = (address ?? '').trim() || DEFAULT_CONSUL_HTTP_ADDR;
  return (/^https?:\/\//i.test(value) ? value : `http://${value}`).replace(/\/+$/, '');
}

/** Headers of every request: `X-Consul-Token` when an ACL token is given (`CONSUL_HTTP_TOKEN`). */
export function consulHeaders(token: string | undefined): Record<string, string> {
  return token ? { 'X-Consul-Token': token } : {};
}

/** One entry of `GET /v1/health/service/<service>` (the fields the resolver reads). */
export interface ConsulHealthEntry {
  Node: { Node?: string; Address: string; Datacenter?: string };
  Service: { ID: string; Service: string; Address?: string; Port: number; Tags?: string[] | null; Meta?: Record<string, string> | null };
  Checks?: Array<{ Status: string; CheckID?: string }>;
}

/** Body of `PUT /v1/agent/service/register` (the fields the registrar writes). */
export interface ConsulServiceRegistration {
  ID: string;
  Name: string;
  Address: string;
  Port: number;
  Tags?: string[];
  Meta?: Record<string, string>;
  Check?: {
    Name: string;
    /** `host:port/<grpc.health.v1 service name>`: Consul calls Health/Check itself. */
    GRPC: string;
    GRPCUseTLS: boolean;
    /** Go duration strings ("5s"). */
    Interval: string;
    Timeout: string;
    /** A critical instance is removed after this long ("1m"); reaps crashed instances. */
    DeregisterCriticalServiceAfter: string;
  };
}
