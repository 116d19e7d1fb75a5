/**
 * The stack as `npm start` runs it: each service, its ports (docs/architecture.md) and the
 * environment it gets. Targets are static `ipv4:` addresses; discovery comes with etcd/Consul.
 */
import { join } from 'node:path';

/** One service of the stack. */
export interface StackService {
  /** App folder under apps/. */
  name: string;
  /** Full gRPC service name (its health status is checked under this name). */
  fullName: string;
  grpcPort: number;
  metricsPort: number;
}

/** The five services, in the order of the architecture table. */
export const STACK: StackService[] = [
  { name: 'auth', fullName: 'auth.v1.AuthService', grpcPort: 50051, metricsPort: 9101 },
  { name: 'analytics', fullName: 'analytics.v1.AnalyticsService', grpcPort: 50052, metricsPort: 9102 },
  { name: 'metrics', fullName: 'metrics.v1.MetricsService', grpcPort: 50053, metricsPort: 9103 },
  { name: 'chat', fullName: 'chat.v1.ChatService', grpcPort: 50054, metricsPort: 9104 },
  { name: 'orders', fullName: 'orders.v1.OrderService', grpcPort: 50055, metricsPort: 9105 },
];

/** The `<NAME>_TARGET` variable that points clients at a service. */
export function targetVariable(service: string): string {
  return `${service.toUpperCase()}_TARGET`;
}

/**
 * Environment for one service: its ports, a data directory under `dataRoot`, and the targets of
 * every service (so a service with a downstream finds it the same way the CLI does).
 */
export function serviceEnv(service: StackService, ports: Map<string, { grpc: number; metrics: number }>, dataRoot: string): Record<string, string> {
  const own = ports.get(service.name);
  if (!own) throw new Error(`no ports for ${service.name}`);
  const env: Record<string, string> = {
    GRPC_PORT: String(own.grpc),
    METRICS_PORT: String(own.metrics),
    DATA_DIR: join(dataRoot, service.name),
  };
  for (const [name, p] of ports) env[targetVariable(name)] = `ipv4:127.0.0.1:${p.grpc}`;
  return env;
}
