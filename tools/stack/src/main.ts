/**
 * `npm start`: the whole stack on one machine, each service its own process with static
 * `ipv4:` targets (`--replicas analytics=3` runs several processes of a service, all in its target;
 * with `ETCD_ENDPOINTS` set each process also registers in etcd, see docs/discovery.md). Prints a
 * line per service as it reports SERVING through grpc.health.v1 (with its start-up time), then
 * a table and the `export *_TARGET=...` lines for another shell, runs the tour once with those
 * variables, and keeps running until Ctrl-C, then stops every service
 * gracefully (SIGTERM: NOT_SERVING, streams ended with UNAVAILABLE, in-flight calls finished).
 * A service that fails to start is named with its error and last output lines, and the rest are
 * stopped (exit 1). `--free-ports` and extra replicas bind port 0 and report the bound port (no
 * race with another process); `--logs` streams every service's lines prefixed with its name.
 * `--tls tls|mtls` runs every service and the tour over TLS or mutual TLS with the certificates
 * of `--tls-dir` (made there by tools/certs first if missing; docs/tls.md). Plaintext by default.
 */
import { channelCredentialsFromFiles } from '@grpc-patterns/grpc-kit';
import { metricsEndpoint, repoRoot, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { Command, Option } from 'commander';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lineFormatter } from './log-format.js';
import { CLIENT_IDENTITY, exportLines, parseReplicas, serviceEnv, sharedStateVariable, STACK, startWaves, staticTargets, targetVariable, tlsVariables, type StackInstance, type StackTls } from './services.js';

interface Options {
  tour: boolean;
  exitAfterTour: boolean;
  freePorts: boolean;
  dataDir: string;
  services: string[];
  replicas: string[];
  tls: StackTls['mode'];
  tlsDir: string;
  logs: boolean;
}

const program = new Command('stack')
  .description('Run the grpc-patterns services as separate processes and tour them.')
  .option('--no-tour', 'do not run the tour after start-up')
  .option('--exit-after-tour', 'stop the stack when the tour ends and exit with its code (used by the e2e test)', false)
  .option('--free-ports', 'let every service bind ports from the OS instead of 50051-50055 / 9101-9105 (the bound ones are printed)', false)
  .option('--data-dir <dir>', 'root of the services\' DATA_DIR folders', join(repoRoot, '.data'))
  .addOption(
    new Option('--services <names...>', 'services to start')
      .choices(STACK.map((s) => s.name))
      .default(STACK.map((s) => s.name)),
  )
  .option('--replicas <service=count...>', 'run several replicas of a stateless service, e.g. --replicas analytics=3 metrics=2 (extra replicas bind ports from the OS)', [])
  .addOption(new Option('--tls <mode>', 'off: plaintext; tls: servers present certificates; mtls: clients too, and servers refuse clients without one').choices(['off', 'tls', 'mtls']).default('off'))
  .option('--logs', 'stream every service\'s log lines, prefixed with its name (pino-pretty on a terminal, JSON otherwise)', false)
  .option('--tls-dir <dir>', 'certificates for --tls (ca.crt, <service>.crt/.key, client.crt/.key); made there by tools/certs if missing', join(repoRoot, '.certs'));

async function main(): Promise<number> {
  const options = program.parse().opts<Options>();
  const selected = STACK.filter((s) => options.services.includes(s.name));
  let replicas: Map<string, number>;
  try {
    replicas = parseReplicas(options.replicas);
  } catch (error) {
    process.stderr.write(`stack: ${(error as Error).message}\n`);
    return 2;
  }
  const instances: StackInstance[] = [];
  for (const s of selected) {
    for (let index = 1; index <= (replicas.get(s.name) ?? 1); index++) {
      // Port 0: the service binds a port from the OS and logs it, so nothing can take it between
      // a choice and the bind (the runner reads the bound port from the "serving" line).
      const fixed = !options.freePorts && index === 1;
      instances.push({ service: s, index, label: index === 1 ? s.name : `${s.name}#${index}`, grpc: fixed ? s.grpcPort : 0, metrics: fixed ? s.metricsPort : 0 });
    }
  }
  const etcdEndpoints = process.env['ETCD_ENDPOINTS'] || undefined;
  if (etcdEndpoints) process.stdout.write(`ETCD_ENDPOINTS is set: every instance registers in etcd (DISCOVERY=etcd) at ${etcdEndpoints}\n`);
  const shared = new Map(instances.filter((i) => i.index > 1).map((i) => [i.service.name, sharedStateVariable(i.service)]));
  for (const [name, variable] of shared) {
    if (variable && process.env[variable]) process.stdout.write(`Note: the ${name} replicas share the database of ${variable}.\n`);
  }
  for (const s of selected) {
    if (!existsSync(join(repoRoot, 'apps', s.name, 'dist', 'main.js'))) {
      process.stderr.write(`stack: apps/${s.name} is not built; run \`npm start\` (it builds first) or \`npx nx run-many -t build\`\n`);
      return 1;
    }
  }

  const tls: StackTls = { mode: options.tls, dir: resolve(options.tlsDir) };
  if (tls.mode !== 'off' && !ensureCertificates(tls.dir as string)) return 1;
  // The runner's readiness checks use the tour's identity: in mtls a service refuses anyone else.
  const client = tlsVariables(tls, CLIENT_IDENTITY);
  const credentials =
    tls.mode === 'off' ? undefined : channelCredentialsFromFiles({ mode: tls.mode, caFile: client['TLS_CA_FILE'], certFile: client['TLS_CERT_FILE'] || undefined, keyFile: client['TLS_KEY_FILE'] || undefined });

  const width = Math.max(...instances.map((i) => i.label.length));
  const format = lineFormatter(Boolean(process.stdout.isTTY), Boolean(process.stdout.isTTY));
  const waves = startWaves(instances);
  process.stdout.write(`Starting ${waves.map((w) => w.map((i) => i.label).join(', ')).join(', then ')} ...\n`);
  const started = new Map<StackInstance, ServiceProcess>();
  /** Instances as they are bound: fixed ports from the start, port-0 ones once they are SERVING. */
  const bound = (): StackInstance[] => instances.flatMap((i) => (started.has(i) ? [{ ...i, grpc: (started.get(i) as ServiceProcess).port }] : i.grpc !== 0 ? [i] : []));
  const failures: string[] = [];
  for (const wave of waves) {
    const known = staticTargets(bound());
    await Promise.allSettled(
      wave.map(async (i) => {
        const env = serviceEnv(i, known, options.dataDir, etcdEndpoints, process.env, tls);
        const spawnedAt = Date.now();
        const onLine = options.logs ? (line: string) => process.stdout.write(`${i.label.padEnd(width)} | ${format(line)}\n`) : undefined;
        try {
          const proc = await spawnService({ name: i.service.name, port: i.grpc, env, healthService: i.service.fullName, readyTimeoutMs: 120_000, credentials, onLine });
          started.set(i, proc);
          process.stdout.write(`  ${i.label.padEnd(width)}  SERVING in ${((Date.now() - spawnedAt) / 1000).toFixed(1)} s  127.0.0.1:${proc.port}\n`);
        } catch (error) {
          failures.push(`${i.label}: ${(error as Error).message}`);
        }
      }),
    );
    if (failures.length > 0) break;
  }
  if (failures.length > 0) {
    for (const f of failures) process.stderr.write(`stack: failed to start ${f}\n`);
    const never = instances.filter((i) => !started.has(i) && !failures.some((f) => f.startsWith(`${i.label}: `)));
    if (never.length > 0) process.stderr.write(`stack: not started: ${never.map((i) => i.label).join(', ')}\n`);
    await stopAll([...started.values()]);
    return 1;
  }
  const targets = staticTargets(bound());
  const running = instances.map((i) => ({ instance: i, process: started.get(i) as ServiceProcess }));
  const processes = running.map((r) => r.process);
  printTable(running);
  process.stdout.write(`To reach this stack from another shell (the CLI and the services read these):\n\n${exportLines(targets, tls).map((l) => `  ${l}`).join('\n')}\n\n`);
  if (tls.mode !== 'off') process.stdout.write(`TLS: ${tls.mode}, certificates in ${tls.dir} (the tour presents ${tls.mode === 'mtls' ? 'client.crt' : 'no certificate'}; docs/tls.md)\n\n`);
  if (etcdEndpoints) await printEtcdRegistrations(etcdEndpoints, selected.map((s) => s.name));

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping (SIGTERM, graceful) ...\n');
    const codes = await stopAll(processes);
    process.stdout.write(`Stopped: ${running.map((r, i) => `${r.instance.label} exit ${codes[i]}`).join(', ')}\n`);
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  for (const { instance, process: p } of running) {
    void p.exited.then((code) => {
      if (stopping) return;
      process.stderr.write(`stack: ${instance.label} exited unexpectedly (code ${code}); last output:\n${p.output().trim().split('\n').slice(-5).join('\n')}\n`);
      void stop(1);
    });
  }

  if (options.tour) {
    const code = await runTour(targets, tls);
    await printHandledCalls(running);
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

interface Running {
  instance: StackInstance;
  process: ServiceProcess;
}

function printTable(running: Running[]): void {
  const rows = running.map(({ instance, process: p }) => [instance.label, instance.service.fullName, `127.0.0.1:${p.port}`, metricsEndpoint(p.output()) ?? '(not served)', String(p.child.pid)]);
  const header = ['service', 'gRPC service', 'gRPC address', 'metrics', 'pid'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write(`\nAll services SERVING:\n\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n\n`);
}

/**
 * Reads each service's /metrics after the tour and prints grpc_server_handled_total per code
 * (health and reflection left out): what Prometheus would scrape, shown without Prometheus.
 */
async function printHandledCalls(running: Running[]): Promise<void> {
  process.stdout.write('\nCalls each service handled (grpc_server_handled_total from its /metrics):\n');
  for (const { instance, process: p } of running) {
    const label = instance.label;
    const url = metricsEndpoint(p.output()) ?? `http://127.0.0.1:${instance.metrics}/metrics`;
    try {
      const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
      const byCode = new Map<string, number>();
      for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_service="([^"]+)"[^}]*grpc_code="([^"]+)"[^}]*\} (\d+)/gm)) {
        if (m[1].startsWith('grpc.')) continue;
        byCode.set(m[2], (byCode.get(m[2]) ?? 0) + Number(m[3]));
      }
      const total = [...byCode.values()].reduce((a, b) => a + b, 0);
      const codes = [...byCode.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(', ');
      process.stdout.write(`  ${label.padEnd(12)} ${String(total).padStart(4)} calls: ${codes || '-'}  (${url})\n`);
    } catch (error) {
      process.stdout.write(`  ${label.padEnd(12)} metrics unreadable at ${url}: ${(error as Error).message}\n`);
    }
  }
}

/**
 * Lists `<service>/` keys in etcd with etcdctl (etcd-client), to show what `etcd:///<service>`
 * clients resolve. Informational: a missing etcdctl is reported, not fatal.
 */
async function printEtcdRegistrations(endpoints: string, services: string[]): Promise<void> {
  process.stdout.write('Registered in etcd (key -> value):\n');
  for (const name of services) {
    const lines = await new Promise<string>((resolve) => {
      const child = spawn('etcdctl', ['--endpoints', endpoints, 'get', '--prefix', `${name}/`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', (error) => resolve(`etcdctl not available: ${error.message}`));
      child.on('exit', () => resolve(out));
    });
    const parts = lines.trim().split('\n').filter((l) => l !== '');
    for (let i = 0; i + 1 < parts.length; i += 2) process.stdout.write(`  ${parts[i]} -> ${parts[i + 1]}\n`);
    if (parts.length % 2 === 1) process.stdout.write(`  ${parts.at(-1)}\n`);
  }
}

/**
 * Makes sure `dir` holds the stack's certificates: runs tools/certs, which keeps what is there
 * and valid and issues what is missing. Prints why when it cannot.
 */
function ensureCertificates(dir: string): boolean {
  const certs = join(repoRoot, 'tools', 'certs', 'dist', 'main.js');
  if (!existsSync(certs)) {
    process.stderr.write('stack: tools/certs is not built; run `npm start` (it builds first) or `npx nx run-many -t build`\n');
    return false;
  }
  const result = spawnSync(process.execPath, [certs, '--out', dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`stack: cannot make certificates in ${dir}:\n${result.stderr || result.stdout}`);
    return false;
  }
  process.stdout.write(result.stdout.trim().split('\n').at(-1) + '\n');
  return true;
}

function runTour(targets: Map<string, string>, tls: StackTls): Promise<number> {
  const cli = join(repoRoot, 'apps', 'cli', 'dist', 'main.js');
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...tlsVariables(tls, CLIENT_IDENTITY) };
  for (const [name, target] of targets) env[targetVariable(name)] = target;
  process.stdout.write(`Running the tour (with the variables above): node apps/cli/dist/main.js tour\n\n`);
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
