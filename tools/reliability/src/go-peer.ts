/**
 * The grpc-go peer (tools/interop/go) for the go-*.spec.ts suites: built by its build.sh from
 * Debian's Go packages (cached: a rebuild with unchanged inputs returns at once), run as one
 * child process per subcommand, each printing one JSON document.
 */
import { repoRoot } from '@grpc-patterns/testing';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const BUILD_SCRIPT = join(repoRoot, 'tools', 'interop', 'go', 'build.sh');
const GOCODE = '/usr/share/gocode/src';
/** What build.sh needs, by path, with the Debian package that installs it. */
const REQUIRED: Array<[string, string]> = [
  ['/usr/bin/go', 'golang-go'],
  ['/usr/bin/protoc', 'protobuf-compiler'],
  [`${GOCODE}/google.golang.org/grpc`, 'golang-google-grpc-dev'],
  [`${GOCODE}/google.golang.org/protobuf/cmd/protoc-gen-go`, 'golang-google-protobuf-dev'],
  [`${GOCODE}/go.etcd.io/etcd/clientv3/naming/resolver`, 'golang-etcd-server-dev'],
];

/** Why the Go peer cannot be built here (for describeRequiring), or undefined. */
export function goPeerMissing(): string | undefined {
  const missing = REQUIRED.filter(([path]) => !existsSync(path));
  if (missing.length === 0) return undefined;
  return `${missing.map(([path]) => path).join(', ')} not found (apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')}; .ci/run does)`;
}

/** Builds the peer (at most 10 min on a cold Go cache) and returns the binary's path. @throws Error with build.sh's output */
export function buildGoPeer(): string {
  const built = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', timeout: 600_000 });
  if (built.status !== 0) throw new Error(`tools/interop/go/build.sh failed (${built.status ?? built.signal}):\n${built.stderr}${built.stdout}`);
  return built.stdout.trim().split('\n').pop() as string;
}

/** Result of one finished subcommand. */
export interface GoRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  json<T = unknown>(): T;
}

/** Runs `go-peer <args>` to its end (never rejects on a non-zero exit: the caller asserts). */
export function runGoPeer(binary: string, args: string[], timeoutMs = 120_000): Promise<GoRun> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`go-peer ${args[0]} printed no JSON (exit ${code}):\n${stdout}\n${stderr}`);
          }
        },
      });
    });
  });
}

/** A running `go-peer serve`. */
export interface GoServer {
  /** `127.0.0.1:<port>` */
  address: string;
  /** The etcd key it registered, or "" without --etcd. */
  key: string;
  child: ChildProcess;
  /** Everything it wrote to stderr so far (grpc-go's log). */
  stderr(): string;
  /** SIGTERM (deregisters, GracefulStop), then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `go-peer serve <args>` and resolves once it printed its address (15 s at most). */
export function startGoServer(binary: string, args: string[], env: Record<string, string> = {}): Promise<GoServer> {
  const child = spawn(binary, ['serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`go-peer serve printed no address within 15 s:\n${stderr}`));
    }, 15_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`go-peer serve exited (${code}):\n${stderr}`));
    };
    child.once('exit', onExit);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || !line) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      const { address, key } = JSON.parse(line) as { address: string; key: string };
      resolve({ address, key, child, stderr: () => stderr, stop });
    });
  });
}
