/**
 * The services of the manifest as the deployment files see them: the app folder, the full gRPC
 * service name its health check asks about, and its environment's zod shape. The shapes are
 * loaded from the apps (`@grpc-patterns/<app>/config`), so the checks here always use the names,
 * defaults and rules the processes themselves parse: the config schema is the single source of
 * truth for docker-compose.yml and deploy/k8s.
 */
import type { z } from '@grpc-patterns/config';
import { SERVICES } from '@grpc-patterns/manifest';

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

/**
 * The zod shape a service's app exports as `<name>ConfigShape` from `@grpc-patterns/<name>/config`
 * (the convention every app and the new-service generator follow).
 * @throws Error when the app has no such export.
 */
export function configShapeOf(name: string): z.ZodRawShape {
  const shape = (require(`@grpc-patterns/${name}/config`) as Record<string, z.ZodRawShape | undefined>)[`${name}ConfigShape`];
  if (!shape) throw new Error(`@grpc-patterns/${name}/config exports no ${name}ConfigShape`);
  return shape;
}

function service(name: string, fullName: string, shape: z.ZodRawShape): DeployService {
  return { name, fullName, shape, grpcPort: Number((shape['GRPC_PORT'] as z.ZodType).parse(undefined)), metricsPort: Number((shape['METRICS_PORT'] as z.ZodType).parse(undefined)) };
}

/** Every service of the manifest, in the order of the architecture table. */
export const DEPLOY_SERVICES: readonly DeployService[] = SERVICES.map((s) => service(s.name, s.fullName, configShapeOf(s.name)));

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
