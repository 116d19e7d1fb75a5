// The C-core peer: tools/interop/python/interop_server.py (Debian's python3-grpcio with
// grpc.server() defaults) as a child process, for cc-server.spec.ts and cc-idle-stream.spec.ts.
import { descriptorSetBase64 } from '@grpc-patterns/proto';
import { repoRoot } from '@grpc-patterns/testing';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';
const SERVER = join(repoRoot, 'tools', 'interop', 'python', 'interop_server.py');

/**
 * Why the peer cannot run here (for describeRequiring), or undefined: it needs python3 with
 * grpcio, protobuf and grpc_tools, and Debian's protoc (codegen.py).
 */
export function ccPeerMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf, grpc_tools.protoc'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} with grpcio, protobuf and grpc_tools is not available (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()}); apt-get install python3-grpcio python3-protobuf python3-grpc-tools`;
  const protoc = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  if (protoc.status !== 0) return `protoc is not available (${protoc.error?.message ?? protoc.stderr.trim()}); apt-get install protobuf-compiler`;
  return undefined;
}

/** A running interop_server.py. */
export interface CcPeer {
  /** `ipv4:127.0.0.1:<port>` */
  target: string;
  /** What the server wrote to stderr so far (its own log lines and C-core's at GRPC_VERBOSITY). */
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Starts the peer on 127.0.0.1:0; StreamFlights stays idle `holdMs` (ms) before it ends OK.
 * `verbosity` sets GRPC_VERBOSITY (DEBUG: C-core logs the GOAWAYs it sends). Rejects with the
 * server's stderr when it exits or prints no port within 60 s.
 */
export function startCcPeer(options: { holdMs: number; verbosity?: string }): Promise<CcPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-peer-'));
  const descriptors = join(dir, 'grpc-patterns.binpb');
  writeFileSync(descriptors, Buffer.from(descriptorSetBase64, 'base64'));
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_VERBOSITY: options.verbosity ?? 'ERROR' };
  delete env['GRPC_TRACE'];
  const child = spawn(PYTHON, [SERVER, '--descriptors', descriptors, '--hold-ms', String(options.holdMs)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const peer: Omit<CcPeer, 'target'> = {
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      cleanup();
    },
  };
  return new Promise<CcPeer>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void peer.stop().then(() => reject(new Error(`interop_server.py ${why}; stderr:\n${stderr}`)));
    };
    const timer = setTimeout(() => fail('printed no port within 60 s'), 60_000);
    child.once('exit', (code, signal) => fail(`exited (code ${code}, signal ${signal}) before serving`));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const line = stdout.split('\n').find((l, i, all) => i < all.length - 1 && l.startsWith('{'));
      if (settled || !line) return;
      settled = true;
      clearTimeout(timer);
      const { port } = JSON.parse(line) as { port: number };
      resolve({ ...peer, target: `ipv4:127.0.0.1:${port}` });
    });
  });
}
