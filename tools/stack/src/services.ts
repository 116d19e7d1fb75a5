/**
 * The stack as `npm start` runs it: each service, its ports (docs/architecture.md) and the
 * environment it gets. Targets are static `ipv4:` address lists (one address per replica,
 * balanced by round_robin); with `ETCD_ENDPOINTS` set, every instance also registers in etcd
 * (`DISCOVERY=etcd`), where `etcd:///<service>` clients find it (docs/discovery.md).
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

/** One process of the stack: replica `index` (1-based) of a service. */
export interface StackInstance {
  service: StackService;
  index: number;
  /** "orders" for the first replica, "orders#2", "orders#3" for the others. */
  label: string;
  grpc: number;
  metrics: number;
}

/**
 * Parses `--replicas analytics=3 metrics=2` into counts per service (1..9 each; default 1).
 * Services in {@link SINGLE_PROCESS_STATE} stay at 1.
 *
 * @throws Error naming the bad entry.
 */
/**
 * Services whose state lives in one process today, so a second replica would not share it:
 * what breaks, in the words the error uses. A shared DATABASE_URL / NATS_URL (the real-backends
 * issue) lifts this.
 */
export const SINGLE_PROCESS_STATE: Record<string, string> = {
  auth: 'users and signing keys live in its own PGlite data dir, so a user registered on one replica could not log in on another',
  orders: 'orders and idempotency keys live in its own PGlite data dir, so a retry on another replica would place a second order',
  chat: 'rooms fan out in process, so users on different replicas would not see each other',
};

export function parseReplicas(specs: string[], services: StackService[] = STACK): Map<string, number> {
  const counts = new Map(services.map((s) => [s.name, 1]));
  for (const spec of specs) {
    const m = /^([a-z]+)=(\d+)$/.exec(spec.trim());
    if (!m || !counts.has(m[1]) || Number(m[2]) < 1 || Number(m[2]) > 9) {
      throw new Error(`--replicas ${spec}: want <service>=<1..9> with service one of ${services.map((s) => s.name).join(', ')}`);
    }
    if (Number(m[2]) > 1 && SINGLE_PROCESS_STATE[m[1]]) {
      throw new Error(`--replicas ${spec}: ${m[1]} cannot run as several replicas yet: ${SINGLE_PROCESS_STATE[m[1]]}`);
    }
    counts.set(m[1], Number(m[2]));
  }
  return counts;
}

/**
 * The `ipv4:` target of every service: all its replicas' addresses, comma-separated (grpc-js'
 * ipv4 scheme takes a list; createClient's round_robin spreads calls over it).
 */
export function staticTargets(instances: StackInstance[]): Map<string, string> {
  const targets = new Map<string, string>();
  for (const i of instances) {
    const previous = targets.get(i.service.name);
    targets.set(i.service.name, previous ? `${previous},127.0.0.1:${i.grpc}` : `ipv4:127.0.0.1:${i.grpc}`);
  }
  return targets;
}

/** The `<NAME>_TARGET` variable that points clients at a service. */
export function targetVariable(service: string): string {
  return `${service.toUpperCase()}_TARGET`;
}

/**
 * Environment for one instance: its ports, a data directory under `dataRoot` (one per replica:
 * PGlite is single-process), the targets of every service (so a service with a downstream finds
 * it the same way the CLI does), and, when `etcdEndpoints` is given, etcd registration.
 */
export function serviceEnv(instance: StackInstance, targets: Map<string, string>, dataRoot: string, etcdEndpoints?: string): Record<string, string> {
  const env: Record<string, string> = {
    GRPC_PORT: String(instance.grpc),
    METRICS_PORT: String(instance.metrics),
    DATA_DIR: join(dataRoot, instance.index === 1 ? instance.service.name : `${instance.service.name}-${instance.index}`),
  };
  for (const [name, target] of targets) env[targetVariable(name)] = target;
  if (etcdEndpoints) {
    env['DISCOVERY'] = 'etcd';
    env['ETCD_ENDPOINTS'] = etcdEndpoints;
  }
  return env;
}
