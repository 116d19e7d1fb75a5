/**
 * A Docker Engine from the tests: the `docker` CLI run as a child process (no SDK), the image
 * built with the legacy builder (`DOCKER_BUILDKIT=0`: BuildKit's `# syntax=` frontend needs a
 * registry), containers on the host network only (these machines allow no traffic to
 * private-range addresses, so no bridge networks: every address is 127.0.0.1).
 */
import { repoRoot } from '@grpc-patterns/testing';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';

/** The tag docker-compose.yml gives the image (`image: grpc-patterns:local`). */
export const IMAGE = 'grpc-patterns:local';
/** The base image the Dockerfile names (on machines without a registry, standin-base.sh's). */
export const BASE_IMAGE = 'node:20-bookworm-slim';

/** Why no Docker Engine can be used here, or undefined when `docker info` answers (within 10 s). */
export function dockerMissing(): string | undefined {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 10_000 });
    return undefined;
  } catch (error) {
    const e = error as { code?: string; stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'docker CLI not found' : (e.stderr?.toString().trim().split('\n')[0] ?? String(error));
    return `no Docker Engine answers (${why}); tools/deploy/scripts/docker-engine.sh starts one, .ci/run does`;
  }
}

/** What a finished command gave. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `docker <args>` from the repository root; resolves with its exit code and output (never rejects on a non-zero exit). */
export function docker(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('docker', args, { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `docker <args>`, stdout trimmed. @throws Error with docker's stderr on a non-zero exit. */
export async function dockerOk(args: string[], timeoutMs?: number): Promise<string> {
  const result = await docker(args, timeoutMs);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/**
 * `DOCKER_BUILDKIT=0 docker build --network host -t <tag> .` from the repository root, each
 * step's output line written to stderr as it comes (`docker build | ...`) so a slow build
 * shows progress. Resolves with the exit code, the whole output and the wall time in ms.
 */
export function buildImage(tag = IMAGE, timeoutMs = 30 * 60_000): Promise<RunResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('docker', ['build', '--network', 'host', '-t', tag, '.'], { cwd: repoRoot, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') process.stderr.write(`docker build | ${line}\n`);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      process.stderr.write(`docker build ! ${chunk}`);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A container's state as `docker inspect` reports it. */
export interface ContainerState {
  Status: string;
  Running: boolean;
  ExitCode: number;
  OOMKilled: boolean;
  Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] };
}

/** `docker inspect` State of a container. @throws Error when the container does not exist. */
export async function containerState(name: string): Promise<ContainerState> {
  return JSON.parse(await dockerOk(['inspect', '--format', '{{json .State}}', name])) as ContainerState;
}

/**
 * Waits until Docker's health status of `name` is `healthy`; resolves with the ms and whether it was `unhealthy` on the
 * way (not final: the engine keeps checking, and a loaded machine can pass start_period).
 * @throws Error with the last check's output and the container's last log lines when it exits or `timeoutMs` passes.
 */
export async function waitHealthy(name: string, timeoutMs: number): Promise<{ ms: number; wasUnhealthy: boolean }> {
  const started = Date.now();
  let wasUnhealthy = false;
  for (;;) {
    const state = await containerState(name);
    if (state.Health?.Status === 'healthy') return { ms: Date.now() - started, wasUnhealthy };
    if (state.Health?.Status === 'unhealthy') wasUnhealthy = true;
    const over = Date.now() - started > timeoutMs;
    if (!state.Running || over) {
      const why = over ? `not healthy after ${timeoutMs} ms (${state.Health?.Status})` : `exited with ${state.ExitCode}`;
      const lastCheck = state.Health?.Log?.at(-1);
      const logs = await docker(['logs', '--tail', '15', name]);
      throw new Error(`${name}: ${why}; last health check: ${lastCheck ? `exit ${lastCheck.ExitCode}: ${lastCheck.Output.trim()}` : 'none'}; last log lines:\n${(logs.stdout + logs.stderr).trim()}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A Go duration as Compose writes them ("15s", "1m30s", "500ms") in ms. @throws Error for anything else. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, n: string, unit: string) => {
    total += Number(n) * units[unit];
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`not a duration: ${text}`);
  return total;
}

/**
 * `CLIENT LIST` of the Redis server `url` names (redis://host:port), one line per connection
 * (`id=... addr=... name=...`), through a plain RESP inline command on a short-lived socket.
 */
export function redisClientList(url: string, timeoutMs = 5_000): Promise<string[]> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port || 6379), hostname);
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`redis ${hostname}:${port}: no reply in ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write('CLIENT LIST\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (reply.startsWith('-')) socket.destroy(new Error(`redis: ${reply.trim()}`));
      else if (header && Buffer.byteLength(reply) >= header[0].length + Number(header[1])) {
        socket.end();
        resolve(reply.slice(header[0].length).trim().split('\n').map((l) => l.trim()));
      }
    });
    socket.on('error', reject);
  });
}
