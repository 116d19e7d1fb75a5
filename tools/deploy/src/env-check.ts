/**
 * Checks a container's environment against its service's zod config shape (libs/config):
 * every variable set must be one the service reads, every value must parse, and every variable
 * the shape requires (no default, not optional) must be set. Used on docker-compose.yml and on
 * the rendered Kubernetes manifests, so a renamed or misspelt variable fails `npm test` instead
 * of being silently ignored by a container.
 */
import { ConfigError, parseConfig, type z } from '@grpc-patterns/config';

/**
 * Variables the services read outside their zod shapes, named by a library's own spec: the OpenTelemetry exporter
 * variables (libs/observability `setupTracing`, OTel SDK env spec) and Consul's ACL token (libs/discovery, consul CLI).
 */
export const LIBRARY_VARIABLES: Readonly<Record<string, string>> = {
  OTEL_EXPORTER_OTLP_ENDPOINT: 'libs/observability: OTLP/HTTP collector base URL (traces go to <url>/v1/traces)',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'libs/observability: OTLP/HTTP traces URL, used as is',
  OTEL_SERVICE_NAME: 'libs/observability: service.name of every span',
  CONSUL_HTTP_TOKEN: 'libs/discovery: Consul ACL token for the registrar and resolver',
};

/** An environment as compose or Kubernetes gives it: names to string values. */
export type Environment = Record<string, string>;

/**
 * Normalises a compose `environment` (a map, or a list of `NAME=value`) into names and strings.
 * A name without a value (`- NAME` or `NAME:` with null) is passed through from the host by
 * compose: it is recorded with the value "" (unset, for our configs).
 */
export function composeEnvironment(environment: unknown): Environment {
  const result: Environment = {};
  if (Array.isArray(environment)) {
    for (const item of environment.map(String)) {
      const eq = item.indexOf('=');
      if (eq < 0) result[item] = '';
      else result[item.slice(0, eq)] = item.slice(eq + 1);
    }
  } else if (environment && typeof environment === 'object') {
    for (const [name, value] of Object.entries(environment)) result[name] = value === null || value === undefined ? '' : String(value);
  }
  return result;
}

/** Whether a shape field needs a value: it fails on undefined (no default, not optional). */
export function isRequired(schema: z.ZodType): boolean {
  return !schema.safeParse(undefined).success;
}

/**
 * Every problem of `env` against `shape`, one line each: an unknown name (not in {@link LIBRARY_VARIABLES}), the schema's
 * message, a required variable unset, then `parseConfig`'s first cross-variable problem. Empty counts as unset;
 * TLS_*_FILE paths are read on this machine. `where` names the container ("docker-compose.yml service auth").
 */
export function environmentProblems(shape: z.ZodRawShape, env: Environment, where: string): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    const schema = shape[name] as z.ZodType | undefined;
    if (!schema) {
      if (!(name in LIBRARY_VARIABLES)) problems.push(`${where}: ${name}: not a variable this service reads (not in its config schema)`);
      continue;
    }
    if (value === '') continue;
    const parsed = schema.safeParse(value);
    if (!parsed.success) problems.push(`${where}: ${name}: ${parsed.error.issues[0].message} (got ${JSON.stringify(value)})`);
  }
  for (const [name, schema] of Object.entries(shape)) {
    if (isRequired(schema as z.ZodType) && (env[name] ?? '') === '') problems.push(`${where}: ${name}: required by the config schema but not set`);
  }
  if (problems.length > 0) return problems;
  // Then the whole environment as the service parses it at start-up, for the rules that span
  // variables (TLS_MODE=mtls needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE).
  try {
    parseConfig(shape, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(`${where}: ${error.message}`);
  }
  return problems;
}
