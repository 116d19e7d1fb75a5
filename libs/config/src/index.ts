/**
 * Environment configuration, parsed once at start-up with zod. One schema per app, built from
 * the shared pieces below so every app spells a variable the same way (local runs,
 * docker-compose and Kubernetes all use these names; see docs/architecture.md).
 *
 * Pattern: fail fast on config (Online Boutique `mustMapEnv`): a missing or bad variable stops
 * start-up with one line naming it and saying what was wrong.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Exit code for a configuration error: EX_CONFIG from BSD sysexits.h. */
export const EXIT_CONFIG = 78;

/** A variable's raw value as the environment gives it. */
export type Env = Record<string, string | undefined>;

/** Thrown by {@link parseConfig}: `message` is one line, `variable` the first bad name. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * A whole number in [min, max], given as a decimal string; `unit` words the message
 * ("must be a whole number of seconds"). Add the default with `.prefault('500')`.
 */
export const wholeNumber = (min: number, max: number, unit?: string) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: unit ? `must be a whole number of ${unit}` : 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

/** A duration in whole seconds, 1..max. */
export const seconds = (fallback: number, max: number) => wholeNumber(1, max, 'seconds').prefault(String(fallback));

/** A TCP port, 0..65535 (0 lets the OS choose; used by tests). */
export const port = (fallback: number) => wholeNumber(0, 65535).prefault(String(fallback));

/** A duration in milliseconds, 0..24 h. */
export const milliseconds = (fallback: number) => wholeNumber(0, 86_400_000).prefault(String(fallback));

/** pino's levels. */
export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/**
 * A gRPC target URI (gRPC naming doc, `doc/naming.md` in grpc/grpc): `ipv4:127.0.0.1:50051`,
 * `dns:///auth:50051`, `unix:/path`, `consul://host:8500/auth`, `etcd:///auth`, or a plain
 * `host:port` (grpc-js reads that as `dns:`).
 */
export const target = (fallback?: string) => {
  const schema = z
    .string()
    .trim()
    .regex(/^([a-z][a-z0-9+.-]*:.+|[^\s/:]+:\d{1,5})$/, {
      message: 'must be a gRPC target URI such as ipv4:127.0.0.1:50051, dns:///auth:50051 or host:port',
    });
  return fallback === undefined ? schema : schema.prefault(fallback);
};

/** A directory or file path (not checked for existence here). */
export const path = (fallback: string) => z.string().trim().min(1).prefault(fallback);

/** Variables every gRPC service reads, with the default ports of its manifest entry (@grpc-patterns/manifest). */
export const serviceEnv = (ports: { grpcPort: number; metricsPort: number }) => ({
  GRPC_HOST: z.string().trim().min(1).default('0.0.0.0'),
  GRPC_PORT: port(ports.grpcPort),
  METRICS_PORT: port(ports.metricsPort),
  LOG_LEVEL: logLevel,
  /** Time from SIGTERM until open calls are cut (forceShutdown), ms. */
  SHUTDOWN_GRACE_MS: milliseconds(10_000),
  /** TLS_MODE, TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE (docs/tls.md). */
  ...tlsEnv(),
});

/** What a PEM file must hold: certificates (a chain or CA bundle) or one private key. */
type PemKind = 'certificate' | 'private key';

/** Why `file` cannot be used as `kind`, or undefined when it can. */
function pemProblem(file: string, kind: PemKind): string | undefined {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (error) {
    return `must be a readable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  try {
    if (kind === 'certificate') new X509Certificate(pem);
    else createPrivateKey(pem);
    return undefined;
  } catch {
    return `must be a PEM ${kind} file`;
  }
}

const pemFile = (kind: PemKind) =>
  z
    .string()
    .trim()
    .superRefine((file, ctx) => {
      const problem = pemProblem(file, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional();

/**
 * TLS variables, shared by every service (docs/tls.md). They configure the server and, with the
 * same files, the service's outgoing channels (orders -> auth, token keys from auth):
 * - `TLS_MODE=off|tls|mtls` (default off: plaintext). tls: the server presents TLS_CERT_FILE;
 *   mtls: it also requires a client certificate issued by TLS_CA_FILE, and presents its own
 *   certificate when it calls another service;
 * - `TLS_CERT_FILE` (PEM certificate chain, leaf first) and `TLS_KEY_FILE` (its PEM private
 *   key): required unless off;
 * - `TLS_CA_FILE` (PEM CA certificate(s) to trust): required for mtls; for tls optional, the
 *   outgoing channels then trust Node's public roots.
 * Files are read and parsed at start-up, and the key must be the certificate's: a wrong file
 * stops the process with one line naming the variable.
 */
export const tlsEnv = () => ({
  TLS_MODE: z.enum(['off', 'tls', 'mtls'], { message: 'must be one of off, tls, mtls' }).default('off'),
  TLS_CERT_FILE: pemFile('certificate'),
  TLS_KEY_FILE: pemFile('private key'),
  TLS_CA_FILE: pemFile('certificate'),
});

/**
 * What {@link tlsEnv} cannot say per variable: the files a mode needs, and a key that belongs
 * to the certificate. A server (parseConfig checks every config with TLS_MODE as one) needs
 * its certificate and key in tls and mtls, and the CA in mtls; a client needs its certificate
 * and key in mtls only (without TLS_CA_FILE it trusts Node's public roots).
 *
 * @throws ConfigError naming the variable.
 */
export function checkTlsSettings(config: Record<string, unknown>, role: 'server' | 'client' = 'server'): void {
  const mode = config['TLS_MODE'];
  if (mode === undefined || mode === 'off') return;
  const needed = role === 'client' ? (mode === 'mtls' ? ['TLS_CERT_FILE', 'TLS_KEY_FILE'] : []) : mode === 'mtls' ? ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CA_FILE'] : ['TLS_CERT_FILE', 'TLS_KEY_FILE'];
  for (const variable of needed) {
    if (config[variable] === undefined) throw new ConfigError(variable, `is required when TLS_MODE=${mode}`);
  }
  if (config['TLS_CERT_FILE'] === undefined || config['TLS_KEY_FILE'] === undefined) return;
  const cert = new X509Certificate(readFileSync(config['TLS_CERT_FILE'] as string));
  if (!cert.checkPrivateKey(createPrivateKey(readFileSync(config['TLS_KEY_FILE'] as string)))) {
    throw new ConfigError('TLS_KEY_FILE', `is not the private key of TLS_CERT_FILE (got ${JSON.stringify(config['TLS_KEY_FILE'])})`);
  }
}

/**
 * Where auth is, for services that verify access tokens with its GetPublicKeys (JWKS):
 * a gRPC target URI, default `ipv4:127.0.0.1:50051` (auth on this machine).
 */
export const authTargetEnv = () => ({ AUTH_TARGET: target('ipv4:127.0.0.1:50051') });

/**
 * Service discovery variables (docs/discovery.md), shared by every service:
 * - `DISCOVERY=none|consul|etcd`: where the instance registers itself (default none: static
 *   `ipv4:` targets, nothing to register);
 * - `CONSUL_HTTP_ADDR` (default 127.0.0.1:8500, the consul CLI's default) and `ETCD_ENDPOINTS`
 *   (comma-separated URLs or host:port, default http://127.0.0.1:2379, etcdctl's default);
 * - `SERVICE_VERSION` (default v1): registered as metadata `version`, which canary routing reads;
 * - `DISCOVERY_ADVERTISE_HOST` (optional): the host registered for clients to dial, for a
 *   server bound to 0.0.0.0 (default: GRPC_HOST, else the first non-internal IPv4).
 * The same variables also configure the `consul:` and `etcd:` resolvers of `*_TARGET`s.
 */
export const discoveryEnv = () => ({
  DISCOVERY: z.enum(['none', 'consul', 'etcd'], { message: 'must be one of none, consul, etcd' }).default('none'),
  CONSUL_HTTP_ADDR: z
    .string()
    .trim()
    .regex(/^(https?:\/\/)?[^\s/:]+:\d{1,5}\/?$/, { message: 'must be host:port or http(s)://host:port' })
    .default('127.0.0.1:8500'),
  ETCD_ENDPOINTS: z
    .string()
    .trim()
    .regex(/^((https?:\/\/)?[^\s/:,]+:\d{1,5}\/?)(,\s*(https?:\/\/)?[^\s/:,]+:\d{1,5}\/?)*$/, {
      message: 'must be comma-separated http(s)://host:port (or host:port) URLs',
    })
    .default('http://127.0.0.1:2379'),
  SERVICE_VERSION: z.string().trim().min(1).default('v1'),
  DISCOVERY_ADVERTISE_HOST: z.string().trim().min(1).optional(),
});

/**
 * An optional server URL: trimmed, and it must parse as a URL with one of `schemes` (without the
 * colon, e.g. `['redis', 'rediss']`) and a host; otherwise `message` (name the expected form).
 */
export const serverUrl = (schemes: readonly string[], message: string) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return schemes.includes(url.protocol.slice(0, -1)) && url.hostname !== '';
        } catch {
          return false;
        }
      },
      { message },
    )
    .optional();

/**
 * Rate-limit variables (docs/interceptors.md, "Rate limits"), shared by every service:
 * - `REDIS_URL` (optional, `redis://[user:password@]host:port[/db]` or `rediss://` for TLS):
 *   set, the per-user limits are kept in Redis and shared by all replicas; unset, in memory
 *   (per process);
 * - `RATE_LIMIT_FAIL=open|closed` (default open): while Redis cannot be reached, let calls
 *   through unlimited (open) or end them with UNAVAILABLE "rate limiter unavailable" (closed);
 * - `RATE_LIMIT_RPS` (whole number 1..1,000,000, default 100): the steady budget, in calls per
 *   second, of each principal (user, or peer address for anonymous calls) on each method;
 * - `RATE_LIMIT_BURST` (whole number 0..10,000,000, default 200): calls allowed on top of it
 *   once the steady budget of a second is spent, refilled over 10 s; 0 = no burst.
 * - `AUTH_FAILURES_PER_PEER` (0..1,000,000, default 100) per `AUTH_FAILURE_WINDOW_S` (default 60):
 *   failed token checks a peer address may cause before the auth step refuses its calls with
 *   RESOURCE_EXHAUSTED, without a signature check (per process, in memory; 0 = off).
 * Together a token bucket (a steady window of RATE_LIMIT_RPS per 1 s plus a burst window of
 * RATE_LIMIT_BURST per 10 s, as rate-limiter-flexible's BurstyRateLimiter), in memory or in
 * Redis alike. A call over it ends with RESOURCE_EXHAUSTED.
 */
export const rateLimitEnv = () => ({
  REDIS_URL: serverUrl(['redis', 'rediss'], 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379'),
  RATE_LIMIT_FAIL: z.enum(['open', 'closed'], { message: 'must be one of open, closed' }).default('open'),
  RATE_LIMIT_RPS: wholeNumber(1, 1_000_000, 'calls per second').prefault('100'),
  RATE_LIMIT_BURST: wholeNumber(0, 10_000_000, 'calls').prefault('200'),
  /** Failed token checks per peer address per AUTH_FAILURE_WINDOW_S before RESOURCE_EXHAUSTED without a check; 0 = off. */
  AUTH_FAILURES_PER_PEER: wholeNumber(0, 1_000_000, 'failed checks').prefault('100'),
  AUTH_FAILURE_WINDOW_S: seconds(60, 86_400),
});

/**
 * Parses `env` with a zod object shape.
 *
 * @returns the typed configuration (defaults applied).
 * @throws ConfigError naming the first variable that is missing or malformed.
 */
export function parseConfig<S extends z.ZodRawShape>(shape: S, env: Env = process.env): z.infer<z.ZodObject<S>> {
  const picked: Env = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    // An empty variable counts as unset, as in most shells' `${VAR:-default}`.
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const result = z.object(shape).safeParse(picked);
  if (result.success) {
    checkTlsSettings(result.data);
    return result.data;
  }
  const issue = result.error.issues[0];
  const variable = String(issue.path[0] ?? '(environment)');
  const value = picked[variable];
  // Never echo a password: a URL's user-info password is masked.
  const shown = value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
  const problem =
    value === undefined
      ? 'is required but not set'
      : `${issue.message} (got ${JSON.stringify(shown && shown.length > 80 ? shown.slice(0, 80) + '…' : shown)})`;
  throw new ConfigError(variable, problem);
}

/**
 * {@link parseConfig} for `main.ts`: on a bad variable, prints one line
 * (`<app>: config error: GRPC_PORT: must be at most 65535 (got "70000")`) to stderr and exits
 * with {@link EXIT_CONFIG}.
 */
export function loadConfigOrExit<S extends z.ZodRawShape>(app: string, shape: S, env: Env = process.env): z.infer<z.ZodObject<S>> {
  try {
    return parseConfig(shape, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${app}: config error: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

export { z };
