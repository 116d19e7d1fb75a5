/**
 * Where the CLI finds the services. One gRPC target URI per service, from the environment
 * (the same names the services and the stack runner use, docs/architecture.md) or from the
 * matching `--<service>-target` option, which wins.
 */
import { checkTlsSettings, ConfigError, parseConfig, target, tlsEnv, type Env } from '@grpc-patterns/config';
import type { TlsFiles, TlsMode } from '@grpc-patterns/grpc-kit';
import { SERVICE_NAMES, SERVICES as MANIFEST, targetVariable as manifestTargetVariable, type ServiceName } from '@grpc-patterns/manifest';

/** The services the CLI talks to: the manifest's, in its (tour) order. */
export const SERVICES = SERVICE_NAMES;
export type { ServiceName };

/** Env shape: `AUTH_TARGET=ipv4:127.0.0.1:50051` ...: each service's default port from the manifest. */
export const configShape = Object.fromEntries(MANIFEST.map((s) => [manifestTargetVariable(s.name), target(`ipv4:127.0.0.1:${s.grpcPort}`)])) as Record<`${Uppercase<ServiceName>}_TARGET`, ReturnType<typeof target>>;

/** A gRPC target URI per service. */
export type Targets = Record<ServiceName, string>;

/** Target options as commander hands them over (`--auth-target` → `authTarget`). */
export type TargetOptions = Partial<Record<`${ServiceName}Target`, string>>;

/** The env variable that holds a service's target ("AUTH_TARGET"). */
export function targetVariable(service: ServiceName): keyof typeof configShape {
  return manifestTargetVariable(service) as keyof typeof configShape;
}

/**
 * Resolves every target: option, else env variable, else the local default port.
 * @throws ConfigError naming the variable (and the option, when the bad value came from one), in one line:
 * `AUTH_TARGET (--auth-target): must be a gRPC target URI ... (got "x y")`.
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

/** TLS options as commander hands them over (`--tls-ca` → `tlsCa`). */
export interface TlsOptions {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Each TLS option and the variable it stands for. */
export const TLS_OPTIONS = [
  { option: '--tls-ca', key: 'tlsCa', variable: 'TLS_CA_FILE' },
  { option: '--tls-cert', key: 'tlsCert', variable: 'TLS_CERT_FILE' },
  { option: '--tls-key', key: 'tlsKey', variable: 'TLS_KEY_FILE' },
] as const;

/**
 * The CLI's TLS files: options, else TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE; the mode: TLS_MODE if set and
 * no `--tls-*` option is, else a certificate or key means mtls, a CA alone tls, nothing plaintext (docs/tls.md).
 * @throws ConfigError naming the variable (and option): an unreadable file, or one the mode needs missing.
 */
export function resolveTls(options: TlsOptions = {}, env: Env = process.env): TlsFiles {
  const merged: Env = {};
  for (const { key, variable } of TLS_OPTIONS) merged[variable] = options[key] || env[variable] || undefined;
  const fromOptions = TLS_OPTIONS.some(({ key }) => options[key] !== undefined);
  const inferred: TlsMode = merged['TLS_CERT_FILE'] || merged['TLS_KEY_FILE'] ? 'mtls' : merged['TLS_CA_FILE'] ? 'tls' : 'off';
  merged['TLS_MODE'] = (!fromOptions && env['TLS_MODE']) || inferred;
  try {
    // Checked as a client's: parseConfig of a shape with TLS_MODE would apply a server's needs.
    const { TLS_MODE, ...fileShape } = tlsEnv();
    const mode = TLS_MODE.safeParse(merged['TLS_MODE']);
    if (!mode.success) throw new ConfigError('TLS_MODE', `${mode.error.issues[0].message} (got ${JSON.stringify(merged['TLS_MODE'])})`);
    const config = { TLS_MODE: mode.data, ...parseConfig(fileShape, merged) };
    checkTlsSettings(config, 'client');
    return { mode: config.TLS_MODE, caFile: config.TLS_CA_FILE, certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const option = TLS_OPTIONS.find((o) => o.variable === error.variable && options[o.key] !== undefined);
    throw new ConfigError(option ? `${error.variable} (${option.option})` : error.variable, error.problem);
  }
}
