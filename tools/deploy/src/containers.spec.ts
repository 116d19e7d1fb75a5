// The containers of docker-compose.yml as plain processes: every service started with its
// compose command and compose environment (hosts that exist only inside compose swapped for
// this machine's equivalents, listed in LOCAL_STAND_INS), then the compose HEALTHCHECK, the
// Dockerfile HEALTHCHECK and the Dockerfile CMD run as the commands they are. This is what
// stands in for `docker compose up` on machines without a Docker engine.
import { channelCredentialsFromFiles } from '@grpc-patterns/grpc-kit';
import { freePort, repoRoot, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeGrpcServices, loadCompose } from './compose';
import { DOCKERFILE, execForm, healthcheckParts, IMAGE_APPS, parseStages } from './dockerfile';
import type { Environment } from './env-check';
import { deployService } from './services';

const compose = loadCompose();
const services = composeGrpcServices(compose);
const finalStage = parseStages(readFileSync(DOCKERFILE, 'utf8')).at(-1);
const built = IMAGE_APPS.every((app) => existsSync(join(repoRoot, 'apps', app, 'dist', 'main.js')));

/**
 * What stands in on this machine for a compose-only host, by variable:
 * - `*_TARGET` `consul://consul:8500/<svc>` and DISCOVERY=consul: no Consul runs here (no
 *   Debian package), so DISCOVERY=none and static `ipv4:127.0.0.1:<port>` targets;
 * - REDIS_URL, NATS_URL: the machine's servers when the variable is set in the test's
 *   environment (.ci/run sets them), else unset (in-memory rate limits, in-process chat);
 * - DATABASE_URL: unset (orders on PGlite under a temp DATA_DIR), so this test never writes to
 *   the shared PostgreSQL database other suites use;
 * - OTEL_EXPORTER_OTLP_ENDPOINT: unset (no Jaeger here);
 * - GRPC_PORT, METRICS_PORT, DATA_DIR: free ports and a temp directory (containers each have
 *   their own network namespace and volume; processes here share one machine).
 */
export const LOCAL_STAND_INS = ['*_TARGET', 'DISCOVERY', 'CONSUL_HTTP_ADDR', 'REDIS_URL', 'NATS_URL', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'GRPC_PORT', 'METRICS_PORT', 'DATA_DIR'];

/** The compose environment of a service with {@link LOCAL_STAND_INS} applied. @throws Error for a compose host left in a value. */
function localEnvironment(app: string, env: Environment, ports: Map<string, { grpc: number; metrics: number }>, dataDir: string): Environment {
  const local: Environment = { ...env, GRPC_PORT: String(ports.get(app)?.grpc), METRICS_PORT: String(ports.get(app)?.metrics), DISCOVERY: 'none' };
  for (const name of ['CONSUL_HTTP_ADDR', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'REDIS_URL', 'NATS_URL']) delete local[name];
  for (const name of ['REDIS_URL', 'NATS_URL']) if (env[name] && process.env[name]) local[name] = process.env[name] as string;
  if (env['DATA_DIR']) local['DATA_DIR'] = join(dataDir, app);
  for (const name of Object.keys(env)) {
    if (name.endsWith('_TARGET')) local[name] = `ipv4:127.0.0.1:${ports.get(name.slice(0, -'_TARGET'.length).toLowerCase())?.grpc}`;
  }
  const hosts = Object.keys(compose.services);
  for (const [name, value] of Object.entries(local)) {
    const host = hosts.find((h) => new RegExp(`(^|//|@)${h}:\\d`).test(value));
    if (host) throw new Error(`${app}: ${name}=${value} names compose host ${host}; add a stand-in for it (LOCAL_STAND_INS)`);
  }
  return local;
}

/** Runs a command from the repository root (the image's WORKDIR holds the same apps/ tree). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoRoot, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

const maybe = built || process.env['CI'] === 'true' ? describe : describe.skip;

maybe('docker-compose services as plain processes, with their HEALTHCHECKs', () => {
  const ports = new Map<string, { grpc: number; metrics: number }>();
  const running = new Map<string, ServiceProcess>();
  let dataDir = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grpc-patterns-containers-'));
    for (const s of services) ports.set(s.app, { grpc: await freePort(), metrics: await freePort() });
    const started = await Promise.allSettled(
      services.map(async (s) => {
        const proc = await spawnService({ name: s.app, port: ports.get(s.app)?.grpc, env: localEnvironment(s.app, s.env, ports, dataDir), healthService: deployService(s.app).fullName, readyTimeoutMs: 240_000 });
        running.set(s.app, proc);
      }),
    );
    const failed = started.flatMap((r, i) => (r.status === 'rejected' ? [`${services[i].app}: ${(r.reason as Error).message}`] : []));
    if (failed.length > 0) throw new Error(`services did not start with their compose environment:\n${failed.join('\n')}`);
  }, 300_000);

  afterAll(async () => {
    const codes = await Promise.all([...running.values()].map((p) => p.stop('SIGTERM')));
    rmSync(dataDir, { recursive: true, force: true });
    expect(codes.every((c) => c === 0)).toBe(true);
  }, 120_000);

  it('starts every service with its compose command and environment, SERVING', () => {
    expect([...running.keys()].sort()).toEqual(services.map((s) => s.app).sort());
  });

  it.each(services.map((s) => s.app))('%s: the compose HEALTHCHECK command exits 0 and says SERVING', async (app) => {
    const s = services.find((x) => x.app === app);
    const argv = (s?.healthcheck ?? []).map((word) => word.replace(`127.0.0.1:${s?.env['GRPC_PORT']}`, `127.0.0.1:${ports.get(app)?.grpc}`));
    expect(argv.slice(0, 3)).toEqual(['node', 'apps/cli/dist/main.js', 'health']);
    const result = await run(process.execPath, argv.slice(1));
    expect(result).toEqual({ code: 0, output: `${deployService(app).fullName} at 127.0.0.1:${ports.get(app)?.grpc}: SERVING\n` });
  });

  it('the Dockerfile HEALTHCHECK (sh -c, GRPC_PORT from the environment) exits 0 for a serving service', async () => {
    const { command } = healthcheckParts(finalStage?.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '');
    const result = await run('sh', ['-c', command.replace(/^node /, `"${process.execPath}" `)], { ...process.env, GRPC_PORT: String(ports.get('metrics')?.grpc) });
    expect(result).toEqual({ code: 0, output: `server at 127.0.0.1:${ports.get('metrics')?.grpc}: SERVING\n` });
  });

  it('the Dockerfile CMD runs: the CLI with its command list, `health` among them', async () => {
    const argv = execForm(finalStage?.instructions.find((i) => i.keyword === 'CMD')?.args ?? '') ?? [];
    const result = await run(process.execPath, argv.slice(1));
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/^\s+health \[options\] \[services\.\.\.\]\s+check servers with\s+grpc\.health\.v1/m);
  });

  it('`health` exits 1 for a service the server does not know (NOT_FOUND), 78 for a malformed target', async () => {
    const unknown = await run(process.execPath, ['apps/cli/dist/main.js', 'health', '--target', `127.0.0.1:${ports.get('auth')?.grpc}`, '--service', 'nope.v1.Nope']);
    expect(unknown).toEqual({ code: 1, output: 'error: NOT_FOUND: Health status unknown for service nope.v1.Nope\n' });
    const malformed = await run(process.execPath, ['apps/cli/dist/main.js', 'health', '--target', 'not a target']);
    expect(malformed.code).toBe(78);
    expect(malformed.output).toMatch(/^error: config: --target: must be a gRPC target URI/);
  });

  it('`health` uses the container\'s TLS variables: SERVING from an mTLS server with them, refused without', async () => {
    const certs = join(dataDir, 'certs');
    const generated = await run(process.execPath, ['tools/certs/dist/main.js', '--out', certs]);
    expect(generated.code).toBe(0);
    const tls = { TLS_MODE: 'mtls', TLS_CA_FILE: join(certs, 'ca.crt'), TLS_CERT_FILE: join(certs, 'auth.crt'), TLS_KEY_FILE: join(certs, 'auth.key') };
    const credentials = channelCredentialsFromFiles({ mode: 'mtls', caFile: tls.TLS_CA_FILE, certFile: tls.TLS_CERT_FILE, keyFile: tls.TLS_KEY_FILE });
    const auth = await spawnService({ name: 'auth', env: { ...tls, DATA_DIR: join(dataDir, 'auth-tls') }, healthService: 'auth.v1.AuthService', readyTimeoutMs: 240_000, credentials });
    try {
      const argv = ['apps/cli/dist/main.js', 'health', '--target', `127.0.0.1:${auth.port}`, '--service', 'auth.v1.AuthService'];
      // As inside the container: the service's own TLS variables are in the environment.
      // (Node also warns on stderr that an IP as TLS ServerName is ignored: docs/tls.md.)
      const withTls = await run(process.execPath, argv, { ...process.env, ...tls });
      expect(withTls.code).toBe(0);
      expect(withTls.output).toContain(`auth.v1.AuthService at 127.0.0.1:${auth.port}: SERVING\n`);
      const plaintext = await run(process.execPath, argv, { ...process.env, TLS_MODE: 'off' });
      expect(plaintext.code).toBe(1);
      expect(plaintext.output).toMatch(/^error: UNAVAILABLE: /);
    } finally {
      expect(await auth.stop('SIGTERM')).toBe(0);
    }
  });

  it('the Dockerfile HEALTHCHECK exits 1 once the service has stopped (SIGTERM, graceful)', async () => {
    const proc = running.get('analytics');
    running.delete('analytics');
    expect(await proc?.stop('SIGTERM')).toBe(0);
    const { command } = healthcheckParts(finalStage?.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '');
    const result = await run('sh', ['-c', command.replace(/^node /, `"${process.execPath}" `)], { ...process.env, GRPC_PORT: String(ports.get('analytics')?.grpc) });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/^error: UNAVAILABLE: /);
  });
});
