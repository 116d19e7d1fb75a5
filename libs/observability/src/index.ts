/**
 * Observability shared by every service. Logging: pino, JSON lines on stdout, one logger per
 * process with the service name bound; the stdout buffer is bounded and never delays exit
 * (log-destination.ts).
 */
import pino from 'pino';
import { createLogDestination } from './log-destination.js';

export type Logger = pino.Logger;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Bound as `service` on every line. */
  service: string;
  /** pino level; default "info". */
  level?: string;
  /** Where lines go; default stdout ({@link createLogDestination}). Tests pass a stream to read the lines back. */
  destination?: pino.DestinationStream;
  /** Bound of the stdout buffer, bytes, when no destination is given; default LOG_BUFFER_BYTES (4 MiB). */
  maxBufferBytes?: number;
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
    options.destination ?? createLogDestination({ maxBufferBytes: options.maxBufferBytes }),
  );
}

export { pino };
export * from './log-destination.js';
export * from './metrics.js';
export * from './tracing.js';
