/**
 * Reading a password from the terminal without echoing it: the terminal is put in raw mode (so
 * it shows nothing as keys are typed), the prompt goes to stderr, and Enter ends the input.
 */
import { CliError } from './errors.js';

/** Exit code of a prompt cancelled with Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_CANCELLED = 130;

/**
 * Writes `prompt` to `output`, reads one line from the terminal `input` with echo off, and
 * restores the terminal. Backspace deletes; Ctrl-C rejects with a CliError (exit 130); Enter or
 * Ctrl-D ends the line.
 */
export function readSecret(prompt: string, input: NodeJS.ReadStream, output: NodeJS.WritableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    // Raw mode first: keys typed once the prompt shows must not be echoed by the terminal.
    const wasRaw = input.isTTY ? input.isRaw : false;
    if (input.isTTY) input.setRawMode(true);
    output.write(prompt);
    let value = '';
    const finish = (error?: Error) => {
      input.removeListener('data', onData);
      if (input.isTTY) input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new CliError('cancelled', EXIT_CANCELLED));
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else value += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
