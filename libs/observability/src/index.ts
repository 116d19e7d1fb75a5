/**
 * Observability shared by every service. Logging: pino, JSON lines on stdout, one logger per
 * process with the service name bound.
 */
import pino from 'pino';

export type Logger = pino.Logger;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Bound as `service` on every line. */
  service: string;
  /** pino level; default "info". */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read the lines back. */
  destination?: pino.DestinationStream;
}

/**
 * Creates the process logger. Never logs message bodies or credentials: callers pass fields
 * explicitly, and `authorization`, `password` and `*token` paths are redacted as a backstop.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['authorization', 'password', '*.password', '*.authorization', 'accessToken', 'refreshToken', '*.accessToken', '*.refreshToken'],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

export { pino };
export * from './metrics.js';
export * from './tracing.js';
