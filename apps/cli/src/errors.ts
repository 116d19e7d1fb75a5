/**
 * How a failure reads on the terminal: one line, `error: <STATUS_NAME>: <details>` for a gRPC
 * status (the status names of grpc/grpc `doc/statuscodes.md`), so scripts can grep for the
 * code and people see the server's message unchanged.
 */
import { isServiceError, statusName } from '@grpc-patterns/grpc-kit';
import { ConfigError, EXIT_CONFIG } from '@grpc-patterns/config';
import { decodeStatusDetails, type DecodedStatusDetails } from '@grpc-patterns/interceptors';

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
 * One line for anything a command threw: `error: UNAUTHENTICATED: invalid username or password` (a gRPC
 * status), `error: config: AUTH_TARGET: must be a gRPC target URI ... (got "x")`, else `error: <message>`.
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

/** An error as `--json` prints it (one line on stderr). */
export interface JsonError {
  error: {
    /** The gRPC status code (number), absent for errors that are not a call's. */
    code?: number;
    /** Its name (UNAUTHENTICATED), or "CONFIG" / "ERROR" for the CLI's own failures. */
    status: string;
    message: string;
    /** google.rpc.Status details of grpc-status-details-bin (field violations, retry delay, error info), when sent. */
    details?: Omit<DecodedStatusDetails, 'code' | 'message'>;
  };
}

/** {@link formatError} as JSON, for commands run with `--json`: code, status name, message, details. */
export function errorJson(error: unknown): JsonError {
  if (isServiceError(error)) {
    let details: DecodedStatusDetails | undefined;
    try {
      details = decodeStatusDetails(error);
    } catch {
      details = undefined; // a malformed trailer: the code and message still stand
    }
    const rest = details ? (({ code: _code, message: _message, ...others }) => others)(details) : undefined;
    return { error: { code: error.code, status: statusName(error.code), message: error.details, ...(rest ? { details: rest } : {}) } };
  }
  if (error instanceof ConfigError) return { error: { status: 'CONFIG', message: error.message } };
  return { error: { status: 'ERROR', message: error instanceof Error ? error.message : String(error) } };
}
