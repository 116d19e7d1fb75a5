/**
 * What every command gets: where to write, the environment, and the clients for the targets
 * chosen by the global options. Injected so tests run commands in process and read the output.
 */
import type { Env } from '@grpc-patterns/config';
import type { Command } from 'commander';
import { Clients, DEFAULT_DEADLINES } from './clients.js';
import { resolveTargets, type TargetOptions } from './config.js';
import type { Writer } from './format.js';

/** The process around a command. */
export interface CliContext {
  out: Writer;
  err: Writer;
  env: Env;
  /** Lines for `chat`. */
  stdin: NodeJS.ReadableStream;
  /** stdout is a terminal (tables vs. plain lines does not depend on it; the progress bar does). */
  outIsTTY: boolean;
  /** stderr is a terminal: progress bars are drawn only then. */
  errIsTTY: boolean;
  /** The stream progress bars draw on (process.stderr). */
  errStream?: NodeJS.WriteStream;
}

/** The real process: stdout, stderr, stdin and process.env. */
export function processContext(): CliContext {
  return {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    stdin: process.stdin,
    outIsTTY: process.stdout.isTTY === true,
    errIsTTY: process.stderr.isTTY === true,
    errStream: process.stderr,
  };
}

/** Global options (see program.ts). */
export interface GlobalOptions extends TargetOptions {
  deadlineMs?: number;
  streamDeadlineMs?: number;
}

/**
 * Clients for the targets of the command's global options and the environment.
 *
 * @throws ConfigError naming the bad target variable/option.
 */
export function clientsFor(command: Command, ctx: CliContext): Clients {
  const options = command.optsWithGlobals<GlobalOptions>();
  const targets = resolveTargets(options, ctx.env);
  return new Clients(targets, {
    unaryMs: options.deadlineMs ?? DEFAULT_DEADLINES.unaryMs,
    streamMs: options.streamDeadlineMs ?? DEFAULT_DEADLINES.streamMs,
  });
}
