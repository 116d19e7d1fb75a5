// docker-compose.yml, checked statically: the Compose Specification schema, every service's
// variables against its own config schema, Consul targets, healthchecks, ports, and that the
// Prometheus config scrapes what compose runs.
import { z } from '@grpc-patterns/config';
import { describeRequiring, repoRoot } from '@grpc-patterns/testing';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_COMPOSE, missingTools } from './binaries';
import { composeGrpcServices, composeSchemaErrors, interpolate, loadCompose, loadComposeRaw, type ComposeFile } from './compose';
import { composeEnvironment, environmentProblems } from './env-check';
import { loadPrometheusConfig, serviceScrapeTargets } from './prometheus';
import { DEPLOY_SERVICES, deployService } from './services';

const compose = loadCompose();
const grpcServices = composeGrpcServices(compose);

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification JSON schema', () => {
    expect(composeSchemaErrors(compose)).toEqual([]);
  });

  it('fails the schema check for a malformed file (the check can fail)', () => {
    const broken = structuredClone(compose) as ComposeFile;
    broken.services['auth'].ports = [{ published: 'not a port', nonsense: true }];
    broken.services['auth'].healthcheck = { ...broken.services['auth'].healthcheck, interval: 'ten seconds' };
    const errors = composeSchemaErrors(broken);
    expect(errors).toEqual(expect.arrayContaining(['/services/auth/healthcheck/interval: must match format "duration"']));
    expect(errors.some((e) => e.startsWith('/services/auth/ports/0'))).toBe(true);
  });

  it('runs each of the five services exactly once, from the one image built by the Dockerfile', () => {
    expect(grpcServices.map((s) => s.app).sort()).toEqual(DEPLOY_SERVICES.map((s) => s.name).sort());
    for (const s of grpcServices) {
      expect(s.composeName).toBe(s.app);
      expect(s.service.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(s.service.image).toBe('grpc-patterns:local');
      expect(s.service.command).toEqual(['node', `apps/${s.app}/dist/main.js`]);
    }
  });

  it.each(DEPLOY_SERVICES.map((s) => s.name))('%s: every variable is one its config schema knows, with a valid value, and every required one is set', (name) => {
    const s = grpcServices.find((g) => g.app === name);
    expect(s).toBeDefined();
    expect(environmentProblems(deployService(name).shape, s?.env ?? {}, `docker-compose.yml ${name}`)).toEqual([]);
  });

  it('registers every service in Consul and points every *_TARGET at consul://consul:8500/<registered name>', () => {
    for (const s of grpcServices) {
      expect(s.env['DISCOVERY']).toBe('consul');
      expect(s.env['CONSUL_HTTP_ADDR']).toBe('consul:8500');
      for (const [name, value] of Object.entries(s.env).filter(([n]) => n.endsWith('_TARGET'))) {
        const target = name.slice(0, -'_TARGET'.length).toLowerCase();
        expect(grpcServices.map((g) => g.app)).toContain(target);
        expect(value).toBe(`consul://consul:8500/${target}`);
      }
    }
    // Every service but auth verifies tokens with auth's keys, so each has AUTH_TARGET.
    expect(grpcServices.filter((s) => s.app !== 'auth').every((s) => s.env['AUTH_TARGET'] !== undefined)).toBe(true);
  });

  it('wires the real backends and tracing: orders on PostgreSQL, chat on NATS, rate limits in Redis, spans to Jaeger', () => {
    const env = (app: string) => grpcServices.find((s) => s.app === app)?.env ?? {};
    expect(env('orders')['DATABASE_URL']).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    expect(env('chat')['NATS_URL']).toBe('nats://nats:4222');
    for (const s of grpcServices) {
      expect(s.env['REDIS_URL']).toBe('redis://redis:6379');
      expect(s.env['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe('http://jaeger:4318');
    }
    for (const backend of ['postgres', 'nats', 'redis', 'jaeger', 'consul']) expect(compose.services[backend]).toBeDefined();
    expect(String(compose.services['nats'].command)).toContain('--jetstream');
  });

  it('healthchecks each service with `grpc-patterns health` on its own GRPC_PORT and full service name', () => {
    for (const s of grpcServices) {
      expect(s.healthcheck).toEqual(['node', 'apps/cli/dist/main.js', 'health', '--target', `127.0.0.1:${s.env['GRPC_PORT']}`, '--service', deployService(s.app).fullName]);
    }
  });

  it('keeps the architecture ports and lets the drain finish before Docker kills a container', () => {
    for (const s of grpcServices) {
      const service = deployService(s.app);
      expect(Number(s.env['GRPC_PORT'])).toBe(service.grpcPort);
      expect(Number(s.env['METRICS_PORT'])).toBe(service.metricsPort);
      expect(s.service.ports).toEqual([`127.0.0.1:${service.grpcPort}:${service.grpcPort}`]);
      // stop_grace_period (SIGTERM -> SIGKILL) must exceed SHUTDOWN_GRACE_MS (SIGTERM -> forceShutdown).
      const stopGraceS = Number(/^(\d+)s$/.exec(String(s.service['stop_grace_period']))?.[1]);
      expect(stopGraceS * 1000).toBeGreaterThan(Number(s.env['SHUTDOWN_GRACE_MS']));
    }
  });

  it('is scraped by deploy/prometheus/prometheus.yml: one target per service at <service>:<METRICS_PORT>', () => {
    const targets = serviceScrapeTargets(loadPrometheusConfig());
    expect(Object.fromEntries(targets)).toEqual(Object.fromEntries(grpcServices.map((s) => [s.app, `${s.composeName}:${s.env['METRICS_PORT']}`])));
    expect(compose.services['prometheus'].volumes).toEqual(expect.arrayContaining(['./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']));
  });
});

/** `[ip:]published:target` of a short-syntax port: the host interface ("" = all), the published port. */
function portBinding(port: unknown): { ip: string; published: string } {
  const parts = String(port).split(':');
  return { ip: parts.length === 3 ? parts[0] : '', published: parts.length >= 2 ? parts[parts.length - 2] : '' };
}

/** `.env.example` as NAME -> value. */
function envExample(): Record<string, string> {
  const text = readFileSync(join(repoRoot, '.env.example'), 'utf8');
  return Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** A variable that holds a secret, or a URL carrying a password (`scheme://user:password@host`). */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY/;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]+:([^@]+)@/i;

/** Secrets written inline in a raw compose file: `service NAME` for each value not taken from `${...}`. */
function inlineSecrets(raw: ComposeFile): string[] {
  const found: string[] = [];
  for (const [name, service] of Object.entries(raw.services)) {
    for (const [variable, value] of Object.entries(composeEnvironment(service.environment))) {
      const secret = SECRET_NAME.test(variable) ? value : URL_PASSWORD.exec(value)?.[1];
      if (secret !== undefined && !/^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$/.test(secret)) found.push(`${name} ${variable}`);
    }
  }
  return found;
}

describe('docker-compose.yml exposure and secrets (issue 17, finding 8)', () => {
  it('publishes every port on 127.0.0.1 only, and no /metrics port at all (unauthenticated; Prometheus scrapes them on the compose network)', () => {
    const bindings = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, ...portBinding(p) })));
    expect(bindings.length).toBeGreaterThanOrEqual(10);
    expect(bindings.filter((b) => b.ip !== '127.0.0.1')).toEqual([]);
    const metricsPorts = grpcServices.map((s) => s.env['METRICS_PORT']);
    expect(bindings.filter((b) => metricsPorts.includes(b.published))).toEqual([]);
  });

  it('writes no secret inline: every password comes from a ${VAR} listed in .env.example', () => {
    const raw = loadComposeRaw();
    expect(inlineSecrets(raw)).toEqual([]);
    const example = envExample();
    const referenced = [...JSON.stringify(raw).matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]);
    expect(referenced.length).toBeGreaterThanOrEqual(3); // Grafana's, and PostgreSQL's twice
    for (const name of referenced) expect(`${name}: ${name in example ? 'in .env.example' : 'missing'}`).toBe(`${name}: in .env.example`);
    // With .env filled in, the values reach the containers: Grafana, PostgreSQL and orders' URL agree.
    const filled = loadCompose(undefined, example);
    expect(composeEnvironment(filled.services['grafana'].environment)['GF_SECURITY_ADMIN_PASSWORD']).toBe(example['GRAFANA_ADMIN_PASSWORD']);
    expect(composeEnvironment(filled.services['postgres'].environment)['POSTGRES_PASSWORD']).toBe(example['POSTGRES_PASSWORD']);
    expect(composeEnvironment(filled.services['orders'].environment)['DATABASE_URL']).toBe(`postgres://orders:${example['POSTGRES_PASSWORD']}@postgres:5432/orders`);
  });

  it('the secret check can fail: an inline password and a URL password are found', () => {
    const raw = loadComposeRaw();
    raw.services['grafana'].environment = { GF_SECURITY_ADMIN_PASSWORD: 'admin' };
    raw.services['orders'].environment = { DATABASE_URL: 'postgres://orders:orders@postgres:5432/orders' };
    expect(inlineSecrets(raw)).toEqual(['orders DATABASE_URL', 'grafana GF_SECURITY_ADMIN_PASSWORD']);
  });

  it('interpolates as Compose does: defaults, $$, and ${VAR:?message} naming the variable', () => {
    expect(interpolate('a${X:-d}b${Y-e}c$$d', {})).toBe('adbec$d');
    expect(interpolate('${X:-d}|${X-d}', { X: '' })).toBe('d|');
    expect(interpolate(['$X', { k: '${X}' }], { X: 'v' })).toEqual(['v', { k: 'v' }]);
    expect(() => interpolate('${SECRET:?set it in .env}', {})).toThrow('SECRET: set it in .env');
  });
});

describe('docs/deploy.md', () => {
  it('names every port docker-compose.yml publishes, as localhost:<port>', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'deploy.md'), 'utf8');
    const published = Object.values(compose.services).flatMap((s) => (s.ports ?? []).map((p) => portBinding(p).published));
    expect(published.length).toBeGreaterThanOrEqual(10);
    for (const port of published) expect(`${port}: ${doc.includes(`localhost:${port}`) ? 'listed' : 'missing'}`).toBe(`${port}: listed`);
  });
});

describe('environmentProblems (the variable check itself)', () => {
  const shape = {
    GRPC_PORT: z.string().regex(/^\d+$/, { message: 'must be a whole number' }).prefault('50051'),
    AUTH_TARGET: z.string().min(1),
    DATABASE_URL: z.string().optional(),
  };

  it('accepts known variables with valid values and library variables (OTEL_*)', () => {
    expect(environmentProblems(shape, { GRPC_PORT: '1', AUTH_TARGET: 'x:1', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://j:4318' }, 'svc')).toEqual([]);
  });

  it('names a rule across variables that the service checks at start-up (TLS_MODE=mtls without files)', () => {
    expect(environmentProblems(deployService('auth').shape, { TLS_MODE: 'mtls' }, 'auth')).toEqual(['auth: TLS_CERT_FILE: is required when TLS_MODE=mtls']);
  });

  it('names an unknown variable, a bad value and a missing required variable', () => {
    expect(environmentProblems(shape, { GRPC_PROT: '1', GRPC_PORT: 'abc' }, 'svc')).toEqual([
      'svc: GRPC_PROT: not a variable this service reads (not in its config schema)',
      'svc: GRPC_PORT: must be a whole number (got "abc")',
      'svc: AUTH_TARGET: required by the config schema but not set',
    ]);
  });
});

/** `docker-compose -f - --project-directory <repo> config -q` with `yaml` on stdin: exit code and stderr. */
function composeConfig(yaml: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(DOCKER_COMPOSE.path, ['-f', '-', '--project-directory', repoRoot, 'config', '-q'], { cwd: repoRoot, timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr: stderr.trim() });
    });
    child.stdin?.end(yaml);
  });
}

describeRequiring('docker-compose.yml read by a real Compose (Debian docker-compose 1.29)', missingTools([DOCKER_COMPOSE]), () => {
  const text = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');

  it('`docker-compose config` accepts it', async () => {
    expect(await composeConfig(text)).toEqual({ code: 0, stderr: '' });
  });

  it('`docker-compose config` rejects an unknown option and a malformed port (the check can fail)', async () => {
    const unknown = await composeConfig(text.replace(/^ {2}auth:$/m, '  auth:\n    nonsense: true'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("Unsupported config option for services.auth: 'nonsense'");
    const port = await composeConfig(text.replace(/^(\s+- )"[^"]*50051:50051"$/m, '$1"not a port"'));
    expect(port.code).toBe(1);
    expect(port.stderr).toContain('services.auth.ports contains an invalid type');
  });
});
