/**
 * A real etcd for the tests: /usr/bin/etcd (Debian etcd-server) on free loopback ports with its
 * own temporary data directory, killed and removed by stop(). Suites skip with the reason when
 * the binary is missing, except under CI=true, where that is a failure (.ci/run installs
 * etcd-server, so a missing binary there is a broken set-up, not an excuse).
 */
import { freePort } from './process.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const ETCD_BINARY = process.env['ETCD_BINARY'] ?? '/usr/bin/etcd';
export const ETCDCTL_BINARY = process.env['ETCDCTL_BINARY'] ?? '/usr/bin/etcdctl';

/** Whether the suites can run here, and if not why. */
export function etcdAvailability(): { available: true } | { available: false; reason: string } {
  if (existsSync(ETCD_BINARY)) return { available: true };
  return { available: false, reason: `${ETCD_BINARY} not found (apt-get install etcd-server etcd-client; .ci/run does)` };
}

/** A running etcd. */
export interface EtcdServer {
  /** Client URL, `http://127.0.0.1:<port>`. */
  endpoint: string;
  process: ChildProcess;
  /** Runs etcdctl against this server; resolves with stdout. */
  etcdctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Starts etcd and waits until `/health` says true (at most 15 s). */
export async function startEtcd(): Promise<EtcdServer> {
  const availability = etcdAvailability();
  if (!availability.available) throw new Error(`etcd is required under CI=true: ${availability.reason}`);
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(tmpdir(), 'discovery-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    ETCD_BINARY,
    [
      '--name', 'test',
      '--data-dir', dataDir,
      '--listen-client-urls', endpoint,
      '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      '--logger', 'zap',
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env['ETCD_UNSUPPORTED_ARCH'] ?? '' } },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited with ${child.exitCode}: ${output.slice(-1000)}`);
    }
    try {
      const health = (await (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) })).json()) as { health?: string };
      if (health.health === 'true') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd not healthy within 15 s: ${output.slice(-1000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const run = promisify(execFile);
  return {
    endpoint,
    process: child,
    async etcdctl(...args: string[]) {
      const { stdout } = await run(ETCDCTL_BINARY, ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
      return stdout;
    },
    stop,
  };
}
