/**
 * How a failure reads on the terminal: one line, `error: <STATUS_NAME>: <details>` for a gRPC
 * status (the status names of grpc/grpc `doc/statuscodes.md`), so scripts can grep for the
 * code and people see the server's message unchanged.
 */
import { isServiceError, statusName } from '@grpc-patterns/grpc-kit';
import { ConfigError, EXIT_CONFIG } from '@grpc-patterns/config';

/** Exit code of a failed command (a gRPC error, a failed check, bad input). */
export const EXIT_FAILURE = 1;
/** Exit code of a configuration error: EX_CONFIG from BSD sysexits.h, as the services use. */
export { EXIT_CONFIG };

/** An expected failure whose message is shown as is (`error: <message>`). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * One line for anything a command threw:
 * - gRPC status: `error: UNAUTHENTICATED: invalid username or password`
 * - bad target: `error: config: AUTH_TARGET: must be a gRPC target URI ... (got "x")`
 * - anything else: `error: <message>`.
 */
export function formatError(error: unknown): string {
  if (isServiceError(error)) return `error: ${statusName(error.code)}: ${error.details}`;
  if (error instanceof ConfigError) return `error: config: ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}`;
  return `error: ${String(error)}`;
}

/** The exit code for an error: {@link EXIT_CONFIG} for configuration, else {@link EXIT_FAILURE}. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ConfigError) return EXIT_CONFIG;
  if (error instanceof CliError) return error.exitCode;
  return EXIT_FAILURE;
}
