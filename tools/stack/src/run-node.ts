import { spawn } from 'node:child_process';

/**
 * Runs `node <file> <args>` to its exit with the parent's environment plus `env`, and resolves
 * to its exit code and its stdout and stderr interleaved (the e2e tests' view of a command).
 */
export function runNode(file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
