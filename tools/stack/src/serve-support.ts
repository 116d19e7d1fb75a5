/**
 * Pure parts of `nx serve <service>` (serve.ts): the environment a served service gets, what
 * `tsc -b --watch` says, and how a service's log line is shown. Kept apart so they are unit tested.
 */
import { join } from 'node:path';
import { serviceEnv, STACK, staticTargets, type StackInstance, type StackService } from './services.js';

/** The stack service named `name` (an apps/ folder), or an Error listing the names. */
export function findService(name: string): StackService {
  const service = STACK.find((s) => s.name === name);
  if (!service) throw new Error(`unknown service "${name}": want one of ${STACK.map((s) => s.name).join(', ')}`);
  return service;
}

/**
 * The environment of a served service: what `npm start` gives its first replica (default ports
 * 5005x / 910x, DATA_DIR `<dataRoot>/<name>`, every `*_TARGET` at the default ports, TLS off),
 * with every variable the developer set in `env` winning (`GRPC_PORT=0 nx serve auth`).
 */
export function devEnv(service: StackService, dataRoot: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const instances: StackInstance[] = STACK.map((s) => ({ service: s, index: 1, label: s.name, grpc: s.grpcPort, metrics: s.metricsPort }));
  const self = instances.find((i) => i.service.name === service.name) as StackInstance;
  const defaults = serviceEnv(self, staticTargets(instances), dataRoot, env['ETCD_ENDPOINTS'] || undefined, env);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) result[name] = value;
  for (const [name, value] of Object.entries(defaults)) if (env[name] === undefined) result[name] = value;
  return result;
}

/** The default data root of `npm start` and `nx serve`: `<repo>/.data`. */
export function defaultDataRoot(repoRoot: string): string {
  return join(repoRoot, '.data');
}

/** What one line of `tsc -b --watch --preserveWatchOutput` output means to the serve loop. */
export type TscEvent = { kind: 'change' } | { kind: 'done'; errors: number } | { kind: 'other' };

/**
 * Classifies a `tsc --watch` line: "File change detected. Starting incremental compilation..." is a save,
 * "Found N error(s). Watching for file changes." a finished build, the rest (the first build's "Starting
 * compilation in watch mode...") other. Source: tsc's diagnostic messages 6032, 6193 and 6194.
 */
export function parseTscLine(line: string): TscEvent {
  if (/File change detected\. Starting incremental compilation/.test(line)) return { kind: 'change' };
  const found = /Found (\d+) errors?\. Watching for file changes/.exec(line);
  if (found) return { kind: 'done', errors: Number(found[1]) };
  return { kind: 'other' };
}

export { servingAddress } from '@grpc-patterns/testing';

/** The port of a `host:port` address (`0.0.0.0:50051`, `[::]:50051`). */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** Seconds with one decimal, for the serve and stack lines ("2.4 s"). */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
