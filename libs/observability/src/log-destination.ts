/**
 * The process' log destination: pino's asynchronous sonic-boom on stdout, made safe for a
 * stdout nobody reads (a stalled log shipper, a pipe whose reader was killed).
 *
 * What sonic-boom 4 does on its own (node_modules/sonic-boom/index.js), and what is changed:
 * - asynchronous writes (`sync: false`) retry EAGAIN every 100 ms on a timer: the event loop is
 *   never blocked, but the buffer grew without limit. Here `maxLength` bounds it: a line that
 *   does not fit is dropped (sonic-boom's 'drop' event) and counted.
 * - pino registers `flushSync()` on process exit for asynchronous destinations
 *   (pino/lib/tools.js buildSafeSonicBoom + on-exit-leak-free). flushSync sleeps 100 ms and
 *   retries as long as `retryEAGAIN` says so (default: forever), so `process.exit()` never
 *   returned on a full pipe. Here `retryEAGAIN` gives up at a deadline during that flush, and
 *   the flush is skipped when the pipe is known to be stalled or gone.
 * - EPIPE (reader gone): pino turns writes into no-ops; here they are counted as dropped too.
 */
import { once } from 'node:events';
import pino from 'pino';

/** pino's sonic-boom destination (`destroyed` is set once it has closed; not in its types). */
export type LogDestination = ReturnType<typeof pino.destination> & { readonly destroyed?: boolean };

/** Default bound of the in-memory log buffer, bytes (4 MiB: some 10,000 lines). */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * How long a flush of the log buffer may take before the process exits anyway, ms: the
 * asynchronous one at the end of shutdown ({@link flushLogs}), and the synchronous one pino runs
 * inside `process.exit()`.
 */
export const LOG_FLUSH_BUDGET_MS = 250;

/** Counters of one destination. */
export interface LogDestinationStats {
  /** Lines dropped: buffer full (stdout not read), reader gone (EPIPE), or logged after the final flush. */
  dropped: number;
  /** The last write attempt got EAGAIN and no write has succeeded since (stdout is not being read). */
  stalled: boolean;
  /** The reader is gone (EPIPE): nothing is written any more. */
  broken: boolean;
}

interface DestinationState extends LogDestinationStats {
  /** Set during the synchronous exit flush: retryEAGAIN says stop after it (epoch ms). */
  deadline: number | undefined;
}

const states = new WeakMap<object, DestinationState>();

/**
 * A pino destination writing to `fd` (default stdout) asynchronously through sonic-boom, with a
 * buffer of at most `maxBufferBytes` (default {@link LOG_BUFFER_BYTES}; lines past it are dropped
 * and counted, see {@link logStats}) and an exit-time flush bounded by {@link LOG_FLUSH_BUDGET_MS}.
 */
export function createLogDestination(options: { fd?: number; maxBufferBytes?: number } = {}): LogDestination {
  const state: DestinationState = { dropped: 0, stalled: false, broken: false, deadline: undefined };
  const stream: LogDestination = pino.destination({
    // process.stdout.fd makes Node open stdout; for a pipe, libuv puts it in non-blocking mode,
    // so a full pipe answers EAGAIN instead of blocking a thread-pool thread in write().
    dest: options.fd ?? process.stdout.fd,
    sync: false,
    maxLength: options.maxBufferBytes ?? LOG_BUFFER_BYTES,
    retryEAGAIN: () => {
      state.stalled = true;
      return state.deadline === undefined || Date.now() < state.deadline;
    },
  });
  states.set(stream, state);
  const drop = () => {
    state.dropped++;
    return true;
  };
  stream.on('drop', () => state.dropped++);
  stream.on('write', () => (state.stalled = false));
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') return; // EAGAIN past the exit deadline: the flush gave up
    state.broken = true;
    stream.write = drop; // pino already made it a no-op; count what is lost
  });
  // After the final flush (flushLogs ended the stream) a write would throw "SonicBoom destroyed".
  stream.on('close', () => (stream.write = drop));
  const flushSync = stream.flushSync.bind(stream);
  stream.flushSync = () => {
    // On a stalled or gone reader this would only wait: skip it, exit now.
    if (stream.destroyed || state.stalled || state.broken) return;
    state.deadline = Date.now() + LOG_FLUSH_BUDGET_MS;
    try {
      flushSync();
    } catch {
      // EAGAIN past the deadline (retryEAGAIN said stop): the rest of the buffer is lost.
    } finally {
      state.deadline = undefined;
    }
  };
  return stream;
}

function stateOf(logger: pino.Logger): DestinationState | undefined {
  const stream = (logger as unknown as Record<symbol, object | undefined>)[pino.symbols.streamSym];
  return stream ? states.get(stream) : undefined;
}

/** The counters of `logger`'s destination when it is one of {@link createLogDestination}; else undefined. */
export function logStats(logger: pino.Logger): Readonly<LogDestinationStats> | undefined {
  return stateOf(logger);
}

/**
 * Writes out what `logger` has buffered and ends its destination, waiting at most `budgetMs`
 * (default {@link LOG_FLUSH_BUDGET_MS}); never rejects. Call it last before `process.exit()`:
 * lines logged afterwards are dropped (counted). A no-op for other destinations.
 */
export async function flushLogs(logger: pino.Logger, budgetMs = LOG_FLUSH_BUDGET_MS): Promise<void> {
  const stream = (logger as unknown as Record<symbol, LogDestination | undefined>)[pino.symbols.streamSym];
  const state = stream ? states.get(stream) : undefined;
  if (!stream || !state || stream.destroyed || state.broken) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    const closed = once(stream, 'close').then(() => true);
    stream.end();
    const done = await Promise.race([closed, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), budgetMs)))]);
    // Not written within the budget: the reader is not reading; the exit-time flushSync skips.
    if (!done) state.stalled = true;
  } catch {
    // end() on a destination that failed: nothing more to flush.
  } finally {
    clearTimeout(timer);
  }
}
