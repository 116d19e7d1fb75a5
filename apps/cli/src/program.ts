/**
 * The `grpc-patterns` command line: a subcommand per pattern, and `tour`. Built as a function of
 * the process context so tests run it in process (argv in, output and exit code out).
 */
import { closeAllChannels, setDefaultChannelCredentials } from '@grpc-patterns/grpc-kit';
import { Command, CommanderError, Option } from 'commander';
import { milliseconds } from './args.js';
import { DEFAULT_DEADLINES } from './clients.js';
import { configShape, SERVICES, targetVariable, TLS_OPTIONS } from './config.js';
import { chatCommand } from './commands/chat.js';
import { delayStatsCommand } from './commands/delay-stats.js';
import { flightsCommand } from './commands/flights.js';
import { loginCommand, registerCommand } from './commands/auth.js';
import { orderCommand } from './commands/order.js';
import { healthCommand } from './commands/health.js';
import { tourCommand } from './commands/tour.js';
import { uploadMetricsCommand } from './commands/upload-metrics.js';
import { TOKEN_VARIABLE, useTlsFor, type CliContext } from './context.js';
import { errorJson, exitCodeOf, formatError } from './errors.js';
import { getOrderCommand, getUserCommand, listOrdersCommand, publicKeysCommand, refreshCommand } from './commands/lookups.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The CLI's version: apps/cli/package.json's (the same from src/ under jest and from dist/). */
export const CLI_VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The commander program, writing through `ctx` and throwing instead of exiting. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('grpc-patterns')
    .description('Try the gRPC patterns of this repo against the running services.')
    .configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) })
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const service of SERVICES) {
    const variable = targetVariable(service);
    const fallback = configShape[variable].parse(undefined);
    program.addOption(new Option(`--${service}-target <target>`, `gRPC target of ${service} (env ${variable}, default ${fallback})`));
  }
  program
    .option('--deadline-ms <ms>', `deadline of each unary call (default ${DEFAULT_DEADLINES.unaryMs})`, milliseconds)
    .option('--stream-deadline-ms <ms>', `deadline of a whole streaming call (default ${DEFAULT_DEADLINES.streamMs})`, milliseconds)
    .option('--gzip', 'compress request messages with gzip (pays off for messages of a few KB and more; README "Compression")')
    // Read from ctx.env in context.ts (not commander's .env()), so tests can inject it.
    .option('--token <jwt>', `access token sent as "authorization: Bearer <jwt>" on every call (env ${TOKEN_VARIABLE}; get one with \`login --print-token\`)`);
  const tlsHelp = {
    '--tls-ca': 'CA certificate (PEM) to check the servers against; turns TLS on',
    '--tls-cert': 'client certificate (PEM) to present (mTLS), with --tls-key',
    '--tls-key': 'private key (PEM) of --tls-cert',
  };
  for (const { option, variable } of TLS_OPTIONS) program.addOption(new Option(`${option} <file>`, `${tlsHelp[option]} (env ${variable}; docs/tls.md)`));
  // Every command's channels get the TLS settings (TLS_MODE/TLS_* or --tls-*) before it runs.
  program.hook('preAction', (_program, action) => void useTlsFor(action, ctx));
  for (const make of [
    registerCommand,
    loginCommand,
    refreshCommand,
    getUserCommand,
    publicKeysCommand,
    flightsCommand,
    delayStatsCommand,
    uploadMetricsCommand,
    chatCommand,
    orderCommand,
    getOrderCommand,
    listOrdersCommand,
    tourCommand,
    healthCommand,
  ]) {
    program.addCommand(make(ctx).exitOverride().configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) }));
  }
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script), closes the channels, and resolves to the
 * exit code: 0, 1 for a failure (printed as `error: <STATUS>: <message>`), 78 for a bad target,
 * or commander's code for usage errors and --help.
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // commander has already printed its own usage errors (and --help / --version).
    if (error instanceof CommanderError) return error.exitCode;
    // With --json the failure is JSON too, so a script reads one format either way.
    ctx.err.write((wantsJson(argv) ? JSON.stringify(errorJson(error)) : formatError(error)) + '\n');
    return exitCodeOf(error);
  } finally {
    closeAllChannels();
    setDefaultChannelCredentials(undefined);
  }
}

/** True when the command line asks for JSON output (`--json` before a `--` end of options). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}
