/**
 * Checks a container's environment against its service's zod config shape (libs/config):
 * every variable set must be one the service reads, every value must parse, and every variable
 * the shape requires (no default, not optional) must be set. Used on docker-compose.yml and on
 * the rendered Kubernetes manifests, so a renamed or misspelt variable fails `npm test` instead
 * of being silently ignored by a container.
 */
import { ConfigError, parseConfig, type z } from '@grpc-patterns/config';

/**
 * Variables the services read that are not in their zod shapes, because a library reads them
 * under the name its own spec gives: the OpenTelemetry exporter variables (read by
 * libs/observability `setupTracing`, names from the OpenTelemetry SDK environment variable
 * spec) and Consul's ACL token (read by libs/discovery, name from the consul CLI).
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
 * Every problem of `env` against `shape`, one line each (empty when all is well):
 * - `FOO: not a variable <where> reads` (unknown name; {@link LIBRARY_VARIABLES} are known);
 * - `GRPC_PORT: must be at most 65535 (got "70000")` (the schema's own message);
 * - `AUTH_TARGET: required by <where> but not set`;
 * - when each variable is fine on its own, the first problem `parseConfig` (what main.ts runs)
 *   finds across variables: `TLS_CERT_FILE: is required when TLS_MODE=mtls`.
 * An empty value counts as unset, as `parseConfig` treats it. File variables (TLS_*_FILE) are
 * read on this machine, so a path that exists only inside a container is reported.
 *
 * @param where names the container in the messages ("docker-compose.yml service auth").
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
