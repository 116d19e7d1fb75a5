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
import { Command, Option } from 'commander';
import { milliseconds } from '../args.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';

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
 * Asks `options.target` for the health of `options.service` and prints the status
 * (`auth.v1.AuthService at 127.0.0.1:50051: SERVING`).
 *
 * @returns "SERVING".
 * @throws ConfigError for a malformed target (exit 78); CliError with the status when it is not
 *   SERVING (exit 1); grpc.ServiceError when the call fails: UNAVAILABLE (nothing listens),
 *   DEADLINE_EXCEEDED (no answer within `timeoutMs`), NOT_FOUND (the server does not know the
 *   service, per the health-checking protocol).
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
    .description('check a server with grpc.health.v1.Health/Check; exit 0 only when SERVING (used by the container HEALTHCHECK)')
    .addOption(new Option('--target <target>', 'gRPC target URI of the server, e.g. 127.0.0.1:50051').makeOptionMandatory())
    .option('--service <name>', 'full service name, e.g. auth.v1.AuthService ("" = the whole server)', '')
    .option('--timeout-ms <ms>', 'deadline of the Check call, ms', milliseconds, DEFAULT_HEALTH_TIMEOUT_MS)
    .action(async (options: HealthOptions) => {
      await runHealth(options, ctx);
    });
}
