/**
 * The shape of a service manifest entry, and lookups over {@link SERVICES}.
 */
import { SERVICES } from './services.js';

/** The four gRPC RPC shapes (grpc.io "Core concepts"); each service shows one. */
export type RpcShape = 'unary' | 'server-streaming' | 'client-streaming' | 'bidi-streaming';

/**
 * Where a service keeps its state, which decides whether it may run as several replicas:
 * `none` (stateless), or `process` (its own PGlite, in-process fan-out: one replica only,
 * `why` says what would break, unless the variable `sharedBy` names is set).
 */
export type ServiceState = { kind: 'none' } | { kind: 'process'; why: string; sharedBy?: string };

/** One service. Its app is apps/<name>, its package @grpc-patterns/<name>. */
export interface ServiceManifest {
  /** App folder, package suffix, compose/Kubernetes name, certificate identity ("auth"): [a-z]+. */
  name: string;
  /** Full gRPC service name ("auth.v1.AuthService"): its health status and reflection name. */
  fullName: string;
  rpcShape: RpcShape;
  /** Default GRPC_PORT and METRICS_PORT (the app's config schema takes them from here). */
  grpcPort: number;
  metricsPort: number;
  /** Method names callable without an access token (docs/interceptors.md "Public methods"). */
  publicMethods: readonly string[];
  /** Services it calls (its `<NAME>_TARGET` variables); they start before it. */
  dependsOn: readonly string[];
  state: ServiceState;
}

/** A service name of the manifest ("auth" | "analytics" | ...). */
export type ServiceName = (typeof SERVICES)[number]['name'];

/** Every service name, in manifest order. */
export const SERVICE_NAMES: readonly ServiceName[] = SERVICES.map((s) => s.name);

/** The entry of `name`. @throws Error naming the known services, for an unknown name. */
export function serviceManifest(name: string): ServiceManifest {
  const found = (SERVICES as readonly ServiceManifest[]).find((s) => s.name === name);
  if (!found) throw new Error(`unknown service ${JSON.stringify(name)}: one of ${SERVICE_NAMES.join(', ')}`);
  return found;
}

/** True when `name` is a service of the manifest. */
export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

/** The `<NAME>_TARGET` variable that points clients at a service ("AUTH_TARGET"). */
export function targetVariable(name: string): string {
  return `${name.toUpperCase()}_TARGET`;
}

/** Full method paths of every service's public methods ("/auth.v1.AuthService/Login"). */
export function publicMethodPaths(services: readonly ServiceManifest[] = SERVICES): string[] {
  return services.flatMap((s) => s.publicMethods.map((m) => `/${s.fullName}/${m}`));
}

/** gRFC A43 path patterns matching every method of every service ("/auth.v1.AuthService/*"). */
export function servicePathPatterns(services: readonly ServiceManifest[] = SERVICES): string[] {
  return services.map((s) => `/${s.fullName}/*`);
}
