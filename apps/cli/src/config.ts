/**
 * Where the CLI finds the services. One gRPC target URI per service, from the environment
 * (the same names the services and the stack runner use, docs/architecture.md) or from the
 * matching `--<service>-target` option, which wins.
 */
import { ConfigError, parseConfig, target, type Env } from '@grpc-patterns/config';

/** The services the CLI talks to, in tour order. */
export const SERVICES = ['auth', 'analytics', 'metrics', 'chat', 'orders'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Env shape: `AUTH_TARGET=ipv4:127.0.0.1:50051` ... `ORDERS_TARGET=ipv4:127.0.0.1:50055`. */
export const configShape = {
  AUTH_TARGET: target('ipv4:127.0.0.1:50051'),
  ANALYTICS_TARGET: target('ipv4:127.0.0.1:50052'),
  METRICS_TARGET: target('ipv4:127.0.0.1:50053'),
  CHAT_TARGET: target('ipv4:127.0.0.1:50054'),
  ORDERS_TARGET: target('ipv4:127.0.0.1:50055'),
};

/** A gRPC target URI per service. */
export type Targets = Record<ServiceName, string>;

/** Target options as commander hands them over (`--auth-target` → `authTarget`). */
export type TargetOptions = Partial<Record<`${ServiceName}Target`, string>>;

/** The env variable that holds a service's target ("AUTH_TARGET"). */
export function targetVariable(service: ServiceName): keyof typeof configShape {
  return `${service.toUpperCase()}_TARGET` as keyof typeof configShape;
}

/**
 * Resolves every target: option, else env variable, else the local default port.
 *
 * @throws ConfigError naming the variable (and the option, when the bad value came from one),
 *   in one line: `AUTH_TARGET (--auth-target): must be a gRPC target URI ... (got "x y")`.
 */
export function resolveTargets(options: TargetOptions = {}, env: Env = process.env): Targets {
  const merged: Env = {};
  for (const service of SERVICES) {
    merged[targetVariable(service)] = options[`${service}Target`] ?? env[targetVariable(service)];
  }
  try {
    const config = parseConfig(configShape, merged);
    return Object.fromEntries(SERVICES.map((s) => [s, config[targetVariable(s)]])) as Targets;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const service = SERVICES.find((s) => targetVariable(s) === error.variable);
    const fromOption = service !== undefined && options[`${service}Target`] !== undefined;
    throw new ConfigError(fromOption ? `${error.variable} (--${service}-target)` : error.variable, error.problem);
  }
}
