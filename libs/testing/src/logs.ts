/** Reading what a spawned service logged (pino: one JSON object per line). */

/** One parsed log line: pino's fields (`level`, `time`, `msg`) and the call's own. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number | string; time?: string | number };

/** The JSON lines of `output` (e.g. `ServiceProcess.output()`), parsed; other lines are skipped. */
export function jsonLogLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}
