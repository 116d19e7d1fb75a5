/**
 * Graceful shutdown of a server started by startServer (server.ts): the open streams it has to
 * end (tracked per call), the drain in its order (NOT_SERVING -> beforeDrain hooks ->
 * propagation wait -> streams ended with UNAVAILABLE -> tryShutdown -> forceShutdown after
 * `shutdownGraceMs` -> afterStop hooks), and the SIGTERM/SIGINT handler with its backstop.
 */
import * as grpc from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';
import { flushLogs, type Logger } from '@grpc-patterns/observability';
import { GrpcError } from './errors.js';
import { endStream } from './handlers.js';

/** A server-streaming or bidi call in progress. */
export type OpenStream = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** Wraps streaming handlers so shutdown can find and end the open streams. */
export function trackStreams(service: { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }, streams: Set<OpenStream>): grpc.UntypedServiceImplementation {
  const wrapped: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(service.implementation)) {
    // Generated definitions key methods by name; proto-loader ones (health) by the proto name,
    // with the camelCase name as originalName: accept both, as grpc-js addService does.
    const definition = service.definition[method] ?? Object.values(service.definition).find((d) => d.originalName === method);
    if (!definition?.responseStream) {
      wrapped[method] = handler;
      continue;
    }
    wrapped[method] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      const forget = () => streams.delete(call);
      // Not on 'finish': a stream whose status is still queued behind flow control is open.
      call.once('close', forget);
      call.once('cancelled', forget);
      return (handler as (call: unknown) => void)(call);
    }) as grpc.UntypedHandleCall;
  }
  return wrapped;
}

/** What the drain needs of startServer's options (StartServerOptions has them all). */
export interface DrainOptions {
  services: Array<{ name: string }>;
  logger: Logger;
  shutdownGraceMs: number;
  propagationDelayMs?: number;
  beforeDrain?: Array<() => Promise<void>>;
  afterStop?: Array<() => Promise<void>>;
}

/**
 * Drains `server` in the order above; resolves when it has stopped and the afterStop hooks ran.
 * Hook errors are logged, never thrown.
 */
export async function drain(reason: string, server: grpc.Server, health: HealthImplementation, streams: Set<OpenStream>, options: DrainOptions): Promise<void> {
  const { logger } = options;
  const started = Date.now();
  logger.info({ reason, openStreams: streams.size }, 'shutting down: health NOT_SERVING');
  health.setStatus('', 'NOT_SERVING');
  for (const s of options.services) health.setStatus(s.name, 'NOT_SERVING');
  for (const hook of options.beforeDrain ?? []) await runHook(hook, logger);
  if (options.propagationDelayMs) await sleep(options.propagationDelayMs);

  const ending = new GrpcError(grpc.status.UNAVAILABLE, 'server shutting down');
  for (const call of streams) endStream(call, ending);

  const remaining = Math.max(0, options.shutdownGraceMs - (Date.now() - started));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ graceMs: options.shutdownGraceMs }, 'grace period over: forcing shutdown');
      server.forceShutdown();
      resolve();
    }, remaining);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  for (const hook of options.afterStop ?? []) await runHook(hook, logger);
  logger.info({ durationMs: Date.now() - started }, 'stopped');
}

/**
 * How long past `shutdownGraceMs` the afterStop hooks may take before the process exits 1 anyway,
 * ms (+ LOG_FLUSH_BUDGET_MS for the log). Keep the sum under the orchestrator's kill timeout:
 * docs/deploy.md (Kubernetes: terminationGracePeriodSeconds).
 */
export const SHUTDOWN_BACKSTOP_MS = 2_000;

/**
 * On SIGTERM or SIGINT: `shutdown(signal)`, then exit 0 (1 when it failed), or exit 1 after
 * `shutdownGraceMs` + {@link SHUTDOWN_BACKSTOP_MS} when it never finishes.
 */
export function shutdownOnSignals(shutdown: (reason: string) => Promise<void>, logger: Logger, shutdownGraceMs: number): void {
  const onSignal = (signal: NodeJS.Signals) => {
    // Backstop: a shutdown hook that never settles (a store's close, an exporter's flush)
    // must not leave a process that no longer serves but never exits.
    // Every exit first flushes the log for at most LOG_FLUSH_BUDGET_MS and then exits without
    // waiting on stdout (a reader that stopped reading cannot hold the process, see
    // libs/observability log-destination.ts).
    const exit = (code: number) => void flushLogs(logger).finally(() => process.exit(code));
    setTimeout(() => {
      logger.error({ graceMs: shutdownGraceMs, backstopMs: SHUTDOWN_BACKSTOP_MS }, 'shutdown did not finish: exiting');
      exit(1);
    }, shutdownGraceMs + SHUTDOWN_BACKSTOP_MS).unref();
    shutdown(signal).then(
      () => exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

async function runHook(hook: () => Promise<void>, logger: Logger): Promise<void> {
  try {
    await hook();
  } catch (error) {
    logger.error({ err: error }, 'shutdown hook failed');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
