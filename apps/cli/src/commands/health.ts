/**
 * `health`: one grpc.health.v1.Health/Check (grpc/grpc `doc/health-checking.md`), for container
 * HEALTHCHECKs and scripts. Exit 0 only when the answer is SERVING; any other answer
 * (NOT_SERVING while a server drains, UNKNOWN) or a failed call exits 1, so Docker marks the
 * container unhealthy. It dials with the CLI's TLS settings (plaintext unless TLS_MODE or
 * --tls-* say otherwise), so inside a container it uses the service's own TLS variables. The
 * Dockerfile and docker-compose.yml run it as
 * `node apps/cli/dist/main.js health --target 127.0.0.1:50051 --service auth.v1.AuthService`.
 */
import { ConfigError, target } from '@grpc-patterns/config';
import { checkHealth, defaultChannelCredentials } from '@grpc-patterns/grpc-kit';
import { serviceManifest } from '@grpc-patterns/manifest';
import { Command, Option } from 'commander';
import { milliseconds } from '../args.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { CliError } from '../errors.js';
import { resolveTargets, SERVICES, type ServiceName } from '../config.js';

/** Options of `health`. */
export interface HealthOptions {
  /** gRPC target URI of the server to ask (`127.0.0.1:50051`, `ipv4:...`, `dns:///...`). */
  target: string;
  /** Full service name ("auth.v1.AuthService"), or "" (default) for the whole server. */
  service: string;
  /** Deadline of the Check call, ms (default 2000). */
  timeoutMs: number;
}

/** Deadline of one Check when `--timeout-ms` is not given, ms. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

/**
 * Asks `options.target` for the health of `options.service`, prints it (`<service> at <address>: SERVING`) and returns "SERVING".
 * @throws ConfigError for a malformed target (exit 78); CliError when not SERVING (exit 1); grpc.ServiceError
 * UNAVAILABLE (nothing listens), DEADLINE_EXCEEDED (after `timeoutMs`), NOT_FOUND (service unknown to the server).
 */
export async function runHealth(options: HealthOptions, ctx: Pick<CliContext, 'out'>): Promise<string> {
  const parsed = target().safeParse(options.target);
  if (!parsed.success) throw new ConfigError('--target', `${parsed.error.issues[0].message} (got ${JSON.stringify(options.target)})`);
  // The CLI's channel credentials (TLS_MODE/TLS_* or --tls-*, set before every command: docs/tls.md),
  // so the same HEALTHCHECK works when the container serves TLS or mTLS.
  const status = await checkHealth(parsed.data, options.service, options.timeoutMs, defaultChannelCredentials());
  const what = `${options.service === '' ? 'server' : options.service} at ${parsed.data}: ${status}`;
  if (status !== 'SERVING') throw new CliError(what);
  ctx.out.write(`${what}\n`);
  return status;
}


/** The `health` subcommand. */
export function healthCommand(ctx: CliContext): Command {
  return new Command('health')
    .description('check servers with grpc.health.v1.Health/Check; exit 0 only when SERVING (used by the container HEALTHCHECK)')
    .argument('[services...]', `services to check at their targets (--<service>-target / *_TARGET, as every command): ${SERVICES.join(', ')}; default all, unless --target is given`)
    .addOption(new Option('--target <target>', 'check this gRPC target URI instead, e.g. 127.0.0.1:50051'))
    .option('--service <name>', 'full service name to ask --target about, e.g. auth.v1.AuthService ("" = the whole server)', '')
    .option('--timeout-ms <ms>', 'deadline of the Check call, ms', milliseconds, DEFAULT_HEALTH_TIMEOUT_MS)
    .option('--json', 'print one JSON object per check ({"service","target","status"})')
    .action(async (names: string[], options: Omit<HealthOptions, 'target'> & { target?: string; json?: boolean }, command: Command) => {
      const unknown = names.filter((n) => !(SERVICES as readonly string[]).includes(n));
      if (unknown.length > 0) throw new CliError(`health: unknown service ${unknown.join(', ')}: want ${SERVICES.join(', ')}`);
      if (options.target !== undefined) {
        if (names.length > 0) throw new CliError('health: give service names or --target, not both');
        // One target: the status line, or the failure as the call's own error (the container HEALTHCHECK's form).
        const status = await runHealth({ service: options.service, target: options.target, timeoutMs: options.timeoutMs }, options.json ? { out: { write: () => true } } : ctx);
        if (options.json) ctx.out.write(JSON.stringify({ service: options.service, target: options.target, status }) + '\n');
        return;
      }
      const targets = resolveTargets(command.optsWithGlobals<GlobalOptions>(), ctx.env);
      const chosen = (names.length > 0 ? names : SERVICES) as ServiceName[];
      await runHealthAll(chosen.map((s) => ({ service: options.service || serviceManifest(s).fullName, target: targets[s] })), options, ctx);
    });
}

/**
 * Checks every `{ service, target }` in parallel and prints a line (with `json`, an object) for each.
 * @throws CliError naming the checks that were not SERVING (exit 1), after printing the rest; the first
 * ConfigError for a malformed target (exit 78).
 */
export async function runHealthAll(checks: Array<{ service: string; target: string }>, options: { timeoutMs: number; json?: boolean }, ctx: Pick<CliContext, 'out'>): Promise<void> {
  const results = await Promise.all(
    checks.map(async (c) => {
      const line = { out: { text: '', write(s: string) { this.text += s; return true; } } };
      try {
        const status = await runHealth({ ...c, timeoutMs: options.timeoutMs }, line);
        return { ...c, status, ok: true, text: line.out.text.trim() };
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        const text = error instanceof CliError ? error.message : `${c.service === '' ? 'server' : c.service} at ${c.target}: ${(error as Error).message}`;
        const status = error instanceof CliError ? (text.split(': ').pop() as string) : 'UNREACHABLE';
        return { ...c, status, ok: false, text };
      }
    }),
  );
  for (const r of results) ctx.out.write(options.json ? JSON.stringify({ service: r.service, target: r.target, status: r.status }) + '\n' : r.text + '\n');
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new CliError(`${failed.length} of ${results.length} not SERVING: ${failed.map((r) => r.service || r.target).join(', ')}`);
}
