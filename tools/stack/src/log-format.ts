/**
 * How the developer tools show a service's log lines: the JSON line as it is (for jq, for log
 * shippers, whenever output is not a terminal), or pino-pretty's one-line rendering on a TTY.
 * pino-pretty is a dev dependency of tools/stack, loaded only when pretty output is asked for.
 */

/** Turns one raw output line of a service into what is printed (without the newline). */
export type LineFormatter = (line: string) => string;

/**
 * A formatter: `pretty` renders pino JSON lines as `[12:00:01.234] INFO: serving {"address":...}`
 * (pid and hostname left out, colours when `colorize`), other lines unchanged; otherwise the
 * identity.
 */
export function lineFormatter(pretty: boolean, colorize = false): LineFormatter {
  if (!pretty) return (line) => line;
  const { prettyFactory } = require('pino-pretty') as { prettyFactory: (options: Record<string, unknown>) => (line: string) => string };
  const render = prettyFactory({ colorize, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true });
  return (line) => (line.startsWith('{') ? render(line).replace(/\n$/, '') : line);
}

/**
 * Calls `onLine` with every complete line written to `stream` (a child's stdout or stderr); a
 * last line without a newline is delivered when the stream ends.
 */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer | string) => {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
  });
}
