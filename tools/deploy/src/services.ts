/**
 * The five services as the deployment files see them: the app folder, the full gRPC service
 * name its health check asks about, and its environment's zod shape. The shapes are imported
 * from the apps (`@grpc-patterns/<app>/config`), so the checks here always use the names,
 * defaults and rules the processes themselves parse: the config schema is the single source of
 * truth for docker-compose.yml and deploy/k8s.
 */
import { analyticsConfigShape } from '@grpc-patterns/analytics/config';
import { authConfigShape } from '@grpc-patterns/auth/config';
import { chatConfigShape } from '@grpc-patterns/chat/config';
import type { z } from '@grpc-patterns/config';
import { metricsConfigShape } from '@grpc-patterns/metrics/config';
import { ordersConfigShape } from '@grpc-patterns/orders/config';

/** One deployable service. */
export interface DeployService {
  /** App folder under apps/, compose service name, Kubernetes name and registry name ("auth"). */
  name: string;
  /** Full gRPC service name ("auth.v1.AuthService"). */
  fullName: string;
  /** zod shape of its environment (what `loadConfigOrExit` parses in its main.ts). */
  shape: z.ZodRawShape;
  /** Default GRPC_PORT from the shape. */
  grpcPort: number;
  /** Default METRICS_PORT from the shape. */
  metricsPort: number;
}

function service(name: string, fullName: string, shape: z.ZodRawShape): DeployService {
  return { name, fullName, shape, grpcPort: Number((shape['GRPC_PORT'] as z.ZodType).parse(undefined)), metricsPort: Number((shape['METRICS_PORT'] as z.ZodType).parse(undefined)) };
}

/** The five services, in the order of the architecture table. */
export const DEPLOY_SERVICES: readonly DeployService[] = [
  service('auth', 'auth.v1.AuthService', authConfigShape),
  service('analytics', 'analytics.v1.AnalyticsService', analyticsConfigShape),
  service('metrics', 'metrics.v1.MetricsService', metricsConfigShape),
  service('chat', 'chat.v1.ChatService', chatConfigShape),
  service('orders', 'orders.v1.OrderService', ordersConfigShape),
];

/** The service of an app folder name. @throws Error for an unknown name. */
export function deployService(name: string): DeployService {
  const found = DEPLOY_SERVICES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown service ${JSON.stringify(name)}: one of ${DEPLOY_SERVICES.map((s) => s.name).join(', ')}`);
  return found;
}

/**
 * The app a container command runs: `["node", "apps/orders/dist/main.js"]` -> "orders"; undefined
 * for anything else (a container that is not one of ours).
 */
export function appOfCommand(command: unknown): string | undefined {
  const words = Array.isArray(command) ? command.map(String) : typeof command === 'string' ? command.trim().split(/\s+/) : [];
  for (const word of words) {
    const m = /^(?:\.\/)?apps\/([a-z]+)\/dist\/main\.js$/.exec(word);
    if (m && DEPLOY_SERVICES.some((s) => s.name === m[1])) return m[1];
  }
  return undefined;
}
