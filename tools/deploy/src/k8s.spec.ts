// deploy/k8s rendered with the real `kubectl kustomize` and checked: every Deployment's variables
// against its service's config schema, native gRPC probes on its GRPC_PORT, the shutdown timing
// (terminationGracePeriodSeconds = SHUTDOWN_GRACE_MS/1000 + preStop + margin), headless Services
// and dns:/// targets that name them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithTools } from '../test/describe-with-tools';
import { KUBECTL } from './binaries';
import { environmentProblems } from './env-check';
import { containerEnvironment, containersOf, renderKustomize, type K8sContainer, type K8sObject } from './k8s';
import { appOfCommand, DEPLOY_SERVICES, deployService } from './services';

/** Seconds between the end of the forced shutdown and SIGKILL, at least. */
const MARGIN_S = 5;
const NAMESPACE = 'grpc-patterns';

interface Probe {
  grpc?: { port: number; service?: string };
  periodSeconds?: number;
  failureThreshold?: number;
}

describeWithTools('deploy/k8s (kubectl kustomize)', [KUBECTL], () => {
  let objects: K8sObject[] = [];
  const deployments = () => objects.filter((o) => o.kind === 'Deployment');
  const deploymentOf = (name: string) => {
    const found = deployments().find((d) => d.metadata.name === name);
    if (!found) throw new Error(`no Deployment ${name}`);
    return found;
  };
  const containerOf = (name: string): K8sContainer => containersOf(deploymentOf(name))[0];

  beforeAll(async () => {
    objects = await renderKustomize();
  });

  it('renders: a Namespace, and a Deployment and a Service per service, all in the namespace', () => {
    expect(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual([NAMESPACE]);
    for (const kind of ['Deployment', 'Service']) {
      expect(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort()).toEqual(DEPLOY_SERVICES.map((s) => s.name).sort());
    }
    for (const o of objects.filter((o) => o.kind !== 'Namespace')) expect(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toBe(`${o.kind}/${o.metadata.name} in ${NAMESPACE}`);
  });

  it('fails to render a broken kustomization (the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources:\n  - missing.yaml\n');
      await expect(renderKustomize(dir)).rejects.toThrow(/kubectl kustomize .* failed: .*missing\.yaml/s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(DEPLOY_SERVICES.map((s) => s.name))('%s: one container running the app; every variable known to its config schema, valid, and every required one set', (name) => {
    const containers = containersOf(deploymentOf(name));
    expect(containers).toHaveLength(1);
    expect(appOfCommand(containers[0].command)).toBe(name);
    expect(containers[0].image).toBe('grpc-patterns:local');
    const { env, problems } = containerEnvironment(objects, containers[0]);
    expect([...problems, ...environmentProblems(deployService(name).shape, env, `deploy/k8s Deployment ${name}`)]).toEqual([]);
    expect(env['GRPC_PORT']).toBe(String(deployService(name).grpcPort));
  });

  it.each(DEPLOY_SERVICES.map((s) => s.name))('%s: native gRPC probes: readiness on its own service name, liveness and startup on the server', (name) => {
    const c = containerOf(name) as K8sContainer & { readinessProbe: Probe; livenessProbe: Probe; startupProbe: Probe; ports: Array<{ name: string; containerPort: number }> };
    const port = Number(containerEnvironment(objects, c).env['GRPC_PORT']);
    expect(c.readinessProbe.grpc).toEqual({ port, service: deployService(name).fullName });
    expect(c.livenessProbe.grpc).toEqual({ port });
    expect(c.startupProbe.grpc).toEqual({ port });
    expect(c.ports).toEqual(expect.arrayContaining([{ name: 'grpc', containerPort: port }]));
  });

  it.each(DEPLOY_SERVICES.map((s) => s.name))('%s: terminationGracePeriodSeconds = SHUTDOWN_GRACE_MS/1000 + preStop sleep + 5 s margin', (name) => {
    const c = containerOf(name) as K8sContainer & { lifecycle?: { preStop?: { exec?: { command?: string[] } } } };
    const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
    expect(preStop).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
    // Set explicitly (grpc-patterns-common), so the pod spec and the service agree by construction.
    const grace = containerEnvironment(objects, c).env['SHUTDOWN_GRACE_MS'];
    expect(grace).toMatch(/^\d+$/);
    const graceMs = Number(grace);
    const podSpec = (deploymentOf(name).spec?.['template'] as { spec: { terminationGracePeriodSeconds: number } }).spec;
    expect(podSpec.terminationGracePeriodSeconds).toBe(Math.ceil(graceMs / 1000) + Number(preStop[1]) + MARGIN_S);
  });

  it('has a headless Service per service (clusterIP: None) selecting its pods, with the grpc and metrics ports', () => {
    for (const s of DEPLOY_SERVICES) {
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === s.name);
      const spec = service?.spec as { clusterIP: string; selector: Record<string, string>; ports: Array<{ name: string; port: number }> };
      expect(spec.clusterIP).toBe('None');
      const podLabels = (deploymentOf(s.name).spec?.['template'] as { metadata: { labels: Record<string, string> } }).metadata.labels;
      expect(podLabels).toEqual(expect.objectContaining(spec.selector));
      expect(spec.ports.map((p) => [p.name, p.port])).toEqual([
        ['grpc', s.grpcPort],
        ['metrics', s.metricsPort],
      ]);
    }
  });

  it('points every *_TARGET at dns:///<service>.<namespace>.svc.cluster.local:<its GRPC_PORT> of a headless Service', () => {
    let targets = 0;
    for (const d of deployments()) {
      const { env } = containerEnvironment(objects, containersOf(d)[0]);
      for (const [variable, value] of Object.entries(env).filter(([n]) => n.endsWith('_TARGET'))) {
        const service = deployService(variable.slice(0, -'_TARGET'.length).toLowerCase());
        expect(value).toBe(`dns:///${service.name}.${NAMESPACE}.svc.cluster.local:${service.grpcPort}`);
        targets++;
      }
    }
    expect(targets).toBe(DEPLOY_SERVICES.length - 1); // every service but auth has AUTH_TARGET
  });

  it('runs as the image\'s non-root user, and one replica of each service whose state is per process', () => {
    for (const d of deployments()) {
      const podSpec = (d.spec?.['template'] as { spec: { securityContext: Record<string, unknown> } }).spec;
      expect(podSpec.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true, runAsUser: 1000 }));
      const { env } = containerEnvironment(objects, containersOf(d)[0]);
      const shared = { auth: undefined, orders: 'DATABASE_URL', chat: 'NATS_URL' }[d.metadata.name as 'auth' | 'orders' | 'chat'];
      if (['auth', 'orders', 'chat'].includes(d.metadata.name) && !(shared && env[shared])) expect(d.spec?.['replicas']).toBe(1);
    }
  });
});
