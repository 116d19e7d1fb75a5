/**
 * The stack as `npm start` runs it: each service of the manifest (@grpc-patterns/manifest), its
 * ports and the environment it gets. Targets are static `ipv4:` address lists (one address per replica,
 * balanced by round_robin); with `ETCD_ENDPOINTS` set, every instance also registers in etcd
 * (`DISCOVERY=etcd`), where `etcd:///<service>` clients find it (docs/discovery.md).
 */
import { join } from 'node:path';
import { SERVICES, targetVariable, type ServiceManifest } from '@grpc-patterns/manifest';

export { targetVariable };

/** One service of the stack: its manifest entry (name, full name, default ports, state). */
export type StackService = ServiceManifest;

/** Every service of the manifest, in the order of the architecture table. */
export const STACK: readonly StackService[] = SERVICES;

/** One process of the stack: replica `index` (1-based) of a service. */
export interface StackInstance {
  service: StackService;
  index: number;
  /** "orders" for the first replica, "orders#2", "orders#3" for the others. */
  label: string;
  grpc: number;
  metrics: number;
}

/** The variable that lets a service with process state run as replicas (orders: DATABASE_URL). */
export function sharedStateVariable(service: StackService): string | undefined {
  return service.state.kind === 'process' ? service.state.sharedBy : undefined;
}

/**
 * Parses `--replicas analytics=3 metrics=2` into counts per service (1..9 each; default 1); a service whose
 * manifest state is `process` stays at 1 unless `env` sets its `sharedBy` variable (orders: DATABASE_URL).
 * @throws Error naming the bad entry.
 */
export function parseReplicas(specs: string[], services: readonly StackService[] = STACK, env: NodeJS.ProcessEnv = process.env): Map<string, number> {
  const counts = new Map(services.map((s) => [s.name, 1]));
  for (const spec of specs) {
    const m = /^([a-z]+)=(\d+)$/.exec(spec.trim());
    if (!m || !counts.has(m[1]) || Number(m[2]) < 1 || Number(m[2]) > 9) {
      throw new Error(`--replicas ${spec}: want <service>=<1..9> with service one of ${services.map((s) => s.name).join(', ')}`);
    }
    const { state } = services.find((s) => s.name === m[1]) as StackService;
    if (Number(m[2]) > 1 && state.kind === 'process' && !(state.sharedBy && env[state.sharedBy])) {
      throw new Error(`--replicas ${spec}: ${m[1]} cannot run as several replicas yet: ${state.why}`);
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

/**
 * Environment for one instance: its ports, a data directory per replica under `dataRoot` (PGlite is
 * single-process), every service's target, etcd registration given `etcdEndpoints`, its `sharedBy` variable
 * from `env` (orders: DATABASE_URL; spawnService passes none itself) and {@link tlsVariables}.
 */
export function serviceEnv(instance: StackInstance, targets: Map<string, string>, dataRoot: string, etcdEndpoints?: string, env: NodeJS.ProcessEnv = process.env, tls: StackTls = { mode: 'off' }): Record<string, string> {
  const result: Record<string, string> = {
    GRPC_PORT: String(instance.grpc),
    METRICS_PORT: String(instance.metrics),
    DATA_DIR: join(dataRoot, instance.index === 1 ? instance.service.name : `${instance.service.name}-${instance.index}`),
    ...tlsVariables(tls, instance.service.name),
  };
  for (const [name, target] of targets) result[targetVariable(name)] = target;
  if (etcdEndpoints) {
    result['DISCOVERY'] = 'etcd';
    result['ETCD_ENDPOINTS'] = etcdEndpoints;
  }
  const shared = sharedStateVariable(instance.service);
  const sharedValue = shared ? env[shared] : undefined;
  if (shared && sharedValue) result[shared] = sharedValue;
  return result;
}

/** TLS of a stack run: `npm start -- --tls mtls` (docs/tls.md). */
export interface StackTls {
  mode: 'off' | 'tls' | 'mtls';
  /** Folder with ca.crt and `<name>.crt`/`<name>.key` per service and for `client` (tools/certs). */
  dir?: string;
}

/** The identity the tour (and the runner's health checks) use: tools/certs' `client`. */
export const CLIENT_IDENTITY = 'client';

/**
 * The TLS_* variables of `identity` (a service, or {@link CLIENT_IDENTITY}): TLS_MODE, the CA, the identity's
 * certificate and key (none for a `tls`-mode client). Off, the file variables are set empty, so TLS_* exported
 * in the developer's shell cannot leak into a plaintext run.
 */
export function tlsVariables(tls: StackTls, identity: string): Record<string, string> {
  if (tls.mode === 'off' || !tls.dir) return { TLS_MODE: 'off', TLS_CERT_FILE: '', TLS_KEY_FILE: '', TLS_CA_FILE: '' };
  const presentsCertificate = identity !== CLIENT_IDENTITY || tls.mode === 'mtls';
  return {
    TLS_MODE: tls.mode,
    TLS_CA_FILE: join(tls.dir, 'ca.crt'),
    TLS_CERT_FILE: presentsCertificate ? join(tls.dir, `${identity}.crt`) : '',
    TLS_KEY_FILE: presentsCertificate ? join(tls.dir, `${identity}.key`) : '',
  };
}

/** `value` quoted for a POSIX shell when it holds anything but plain path and target characters. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `export NAME=value` lines pointing another shell at this stack: each service's `<NAME>_TARGET` (bound
 * addresses), then the client's non-empty TLS_* variables; the runner passes them to the tour too, so a
 * copied command reaches the same processes.
 */
export function exportLines(targets: Map<string, string>, tls: StackTls): string[] {
  const lines = [...targets].map(([name, target]) => `export ${targetVariable(name)}=${shellQuote(target)}`);
  if (tls.mode !== 'off') {
    for (const [name, value] of Object.entries(tlsVariables(tls, CLIENT_IDENTITY))) if (value) lines.push(`export ${name}=${shellQuote(value)}`);
  }
  return lines;
}

/**
 * The order instances start in: one wave when every port is fixed; else a service starts a wave after those
 * it `dependsOn` that bind port 0, since it reads their `<NAME>_TARGET` at start-up and the port is known
 * only once bound.
 */
export function startWaves(instances: StackInstance[]): StackInstance[][] {
  const present = new Set(instances.filter((i) => i.grpc === 0).map((i) => i.service.name));
  const depth = (service: StackService, seen: string[] = []): number => {
    const deps = service.dependsOn.filter((d) => present.has(d) && !seen.includes(d));
    return deps.length === 0 ? 0 : 1 + Math.max(...deps.map((d) => depth(STACK.find((s) => s.name === d) as StackService, [...seen, service.name])));
  };
  const waves: StackInstance[][] = [];
  for (const i of instances) (waves[depth(i.service)] ??= []).push(i);
  return waves.filter((wave) => wave !== undefined);
}
