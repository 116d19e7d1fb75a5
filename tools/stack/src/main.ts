/**
 * `npm start`: the whole stack on one machine, each service its own process with static
 * `ipv4:` targets. Waits until every service reports SERVING through grpc.health.v1, prints a
 * table, runs the tour once, and keeps running until Ctrl-C, then stops every service
 * gracefully (SIGTERM: NOT_SERVING, streams ended with UNAVAILABLE, in-flight calls finished).
 * A service that fails to start is named with its error and the rest are stopped (exit 1).
 */
import { freePort, repoRoot, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { Command, Option } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { serviceEnv, STACK, targetVariable } from './services.js';

interface Options {
  tour: boolean;
  exitAfterTour: boolean;
  freePorts: boolean;
  dataDir: string;
  services: string[];
}

const program = new Command('stack')
  .description('Run the grpc-patterns services as separate processes and tour them.')
  .option('--no-tour', 'do not run the tour after start-up')
  .option('--exit-after-tour', 'stop the stack when the tour ends and exit with its code (used by the e2e test)', false)
  .option('--free-ports', 'use free ports instead of 50051-50055 / 9101-9105', false)
  .option('--data-dir <dir>', 'root of the services\' DATA_DIR folders', join(repoRoot, '.data'))
  .addOption(
    new Option('--services <names...>', 'services to start')
      .choices(STACK.map((s) => s.name))
      .default(STACK.map((s) => s.name)),
  );

async function main(): Promise<number> {
  const options = program.parse().opts<Options>();
  const selected = STACK.filter((s) => options.services.includes(s.name));
  const ports = new Map<string, { grpc: number; metrics: number }>();
  for (const s of selected) {
    ports.set(s.name, options.freePorts ? { grpc: await freePort(), metrics: await freePort() } : { grpc: s.grpcPort, metrics: s.metricsPort });
  }
  for (const s of selected) {
    if (!existsSync(join(repoRoot, 'apps', s.name, 'dist', 'main.js'))) {
      process.stderr.write(`stack: apps/${s.name} is not built; run \`npm start\` (it builds first) or \`npx nx run-many -t build\`\n`);
      return 1;
    }
  }

  process.stdout.write(`Starting ${selected.map((s) => s.name).join(', ')} ...\n`);
  const started: ServiceProcess[] = [];
  const results = await Promise.allSettled(
    selected.map(async (s) => {
      const proc = await spawnService({ name: s.name, port: ports.get(s.name)?.grpc, env: serviceEnv(s, ports, options.dataDir), healthService: s.fullName, readyTimeoutMs: 60_000 });
      started.push(proc);
      return proc;
    }),
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${selected[i].name}: ${(r.reason as Error).message}`] : []));
  if (failures.length > 0) {
    for (const f of failures) process.stderr.write(`stack: failed to start ${f}\n`);
    await stopAll(started);
    return 1;
  }
  const processes = selected.map((s) => started.find((p) => p.name === s.name) as ServiceProcess);
  printTable(processes, ports);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping (SIGTERM, graceful) ...\n');
    const codes = await stopAll(processes);
    process.stdout.write(`Stopped: ${processes.map((p, i) => `${p.name} exit ${codes[i]}`).join(', ')}\n`);
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  for (const p of processes) {
    void p.exited.then((code) => {
      if (stopping) return;
      process.stderr.write(`stack: ${p.name} exited unexpectedly (code ${code}); last output:\n${p.output().trim().split('\n').slice(-5).join('\n')}\n`);
      void stop(1);
    });
  }

  if (options.tour) {
    const code = await runTour(selected.map((s) => s.name), ports);
    await printHandledCalls(processes, ports);
    if (options.exitAfterTour) {
      await stop(code);
      return code;
    }
    process.stdout.write(code === 0 ? '\nTour passed. ' : `\nTour FAILED (exit ${code}). `);
  } else if (options.exitAfterTour) {
    await stop(0);
    return 0;
  }
  process.stdout.write('The stack keeps running; press Ctrl-C to stop it.\n');
  return new Promise<number>(() => undefined);
}

function printTable(processes: ServiceProcess[], ports: Map<string, { grpc: number; metrics: number }>): void {
  const rows = processes.map((p) => {
    const s = STACK.find((x) => x.name === p.name);
    return [p.name, s?.fullName ?? '', `127.0.0.1:${p.port}`, metricsUrl(ports.get(p.name)?.metrics ?? 0, p), String(p.child.pid)];
  });
  const header = ['service', 'gRPC service', 'gRPC address', 'metrics', 'pid'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write(`\nAll services SERVING:\n\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n\n`);
}

/** The metrics URL, or "(not served)" until the service logs that it serves /metrics. */
function metricsUrl(port: number, p: ServiceProcess): string {
  return p.output().includes('"metrics endpoint"') ? `http://127.0.0.1:${port}/metrics` : '(not served)';
}

/**
 * Reads each service's /metrics after the tour and prints grpc_server_handled_total per code
 * (health and reflection left out): what Prometheus would scrape, shown without Prometheus.
 */
async function printHandledCalls(processes: ServiceProcess[], ports: Map<string, { grpc: number; metrics: number }>): Promise<void> {
  process.stdout.write('\nCalls each service handled (grpc_server_handled_total from its /metrics):\n');
  for (const p of processes) {
    const url = `http://127.0.0.1:${ports.get(p.name)?.metrics}/metrics`;
    try {
      const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
      const byCode = new Map<string, number>();
      for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_service="([^"]+)"[^}]*grpc_code="([^"]+)"[^}]*\} (\d+)/gm)) {
        if (m[1].startsWith('grpc.')) continue;
        byCode.set(m[2], (byCode.get(m[2]) ?? 0) + Number(m[3]));
      }
      const total = [...byCode.values()].reduce((a, b) => a + b, 0);
      const codes = [...byCode.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(', ');
      process.stdout.write(`  ${p.name.padEnd(10)} ${String(total).padStart(4)} calls: ${codes || '-'}  (${url})\n`);
    } catch (error) {
      process.stdout.write(`  ${p.name.padEnd(10)} metrics unreadable at ${url}: ${(error as Error).message}\n`);
    }
  }
}

function runTour(services: string[], ports: Map<string, { grpc: number; metrics: number }>): Promise<number> {
  const cli = join(repoRoot, 'apps', 'cli', 'dist', 'main.js');
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  for (const name of services) env[targetVariable(name)] = `ipv4:127.0.0.1:${ports.get(name)?.grpc}`;
  process.stdout.write(`Running the tour: node apps/cli/dist/main.js tour\n\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'tour'], { env, stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function stopAll(processes: ServiceProcess[]): Promise<Array<number | null>> {
  return Promise.all(processes.map((p) => p.stop('SIGTERM')));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`stack: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
