// The generator's deployment edits on this checkout's real files: each one only inserts lines
// (every existing line, comment and blank kept, in order), in the style of the entries around
// them, and refuses a file that has the service already. That the entries agree with the
// manifest is what tools/deploy's specs check; new-service.e2e.spec.ts runs them after generating.
import { repoRoot } from '@grpc-patterns/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { composeWithService, DEPLOY_FILES, deployDocWithPort, dockerfileWithApp, kustomizationWithResource, prometheusWithTarget } from './deploy-entries.js';

const inventory = { name: 'inventory', fullName: 'inventory.v1.InventoryService', grpcPort: 50056, metricsPort: 9106, dependsOn: ['auth'] };
const existing = { grpcPorts: [50051, 50052, 50053, 50054, 50055], metricsPorts: [9101, 9102, 9103, 9104, 9105] };
const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8');

/** The lines of `after` that are not `before`'s, when every line of `before` is kept in order; throws otherwise. */
function insertedLines(before: string, after: string): string[] {
  const old = before.split('\n');
  const inserted: string[] = [];
  let kept = 0;
  for (const line of after.split('\n')) {
    if (kept < old.length && line === old[kept]) kept++;
    else inserted.push(line);
  }
  if (kept !== old.length) throw new Error(`line ${kept + 1} of the original is not kept: ${JSON.stringify(old[kept])}`);
  return inserted;
}

describe('the deployment entries new-service writes', () => {
  it('docker-compose.yml: a service block after orders, as the others are written, and in Prometheus\' depends_on', () => {
    const before = read(DEPLOY_FILES.compose);
    const after = composeWithService(before, inventory);
    expect(insertedLines(before, after)).toEqual([
      '  inventory:',
      '    <<: *grpc-service',
      '    command: ["node", "apps/inventory/dist/main.js"]',
      '    environment:',
      '      <<: *common-env',
      '      GRPC_PORT: "50056"',
      '      METRICS_PORT: "9106"',
      '      AUTH_TARGET: consul://consul:8500/auth',
      '    ports:',
      '      - "127.0.0.1:50056:50056"',
      '    healthcheck:',
      '      test: ["CMD", "node", "apps/cli/dist/main.js", "health", "--target", "127.0.0.1:50056", "--service", "inventory.v1.InventoryService"]',
      '      interval: 10s',
      '      timeout: 5s',
      '      retries: 3',
      '      start_period: 30s',
      '',
      '      - inventory',
    ]);
    // Read as Compose reads it (merge keys): the anchors apply to the new block too.
    const services = (parse(after, { merge: true }) as { services: Record<string, Record<string, unknown>> }).services;
    expect(Object.keys(services).slice(0, 6)).toEqual(['auth', 'analytics', 'metrics', 'chat', 'orders', 'inventory']);
    expect(services['inventory']).toMatchObject({ image: 'grpc-patterns:local', stop_grace_period: '15s', environment: { DISCOVERY: 'consul', GRPC_PORT: '50056', AUTH_TARGET: 'consul://consul:8500/auth' } });
    expect(services['prometheus']['depends_on']).toEqual(['auth', 'analytics', 'metrics', 'chat', 'orders', 'inventory']);
    expect(() => composeWithService(after, inventory)).toThrow('docker-compose.yml: has a service inventory already');
  });

  it('prometheus.yml: one more target of the grpc-patterns job, labelled with the service', () => {
    const before = read(DEPLOY_FILES.prometheus);
    const after = prometheusWithTarget(before, inventory);
    expect(insertedLines(before, after)).toEqual(['      - targets: ["inventory:9106"]', '        labels: { service: inventory }']);
    expect(() => prometheusWithTarget(after, inventory)).toThrow('job grpc-patterns scrapes inventory already');
    expect(() => prometheusWithTarget(before, inventory, 'nope')).toThrow('no job nope');
  });

  it('deploy/k8s/kustomization.yaml: the manifest as its last resource', () => {
    const before = read(DEPLOY_FILES.kustomization);
    const after = kustomizationWithResource(before, inventory);
    expect(insertedLines(before, after)).toEqual(['  - inventory.yaml']);
    expect((parse(after) as { resources: string[] }).resources.at(-1)).toBe('inventory.yaml');
    expect(() => kustomizationWithResource(after, inventory)).toThrow('inventory.yaml in it already');
  });

  it('Dockerfile: the app in the production install and the build, its ports in EXPOSE', () => {
    const before = read(DEPLOY_FILES.dockerfile);
    const after = dockerfileWithApp(before, inventory, existing);
    const changed = (text: string) => text.split('\n').filter((l) => !before.split('\n').includes(l));
    expect(changed(after)).toEqual([
      '      -w apps/auth -w apps/analytics -w apps/metrics -w apps/chat -w apps/orders -w apps/inventory -w apps/cli \\',
      '      -p @grpc-patterns/auth @grpc-patterns/analytics @grpc-patterns/metrics @grpc-patterns/chat @grpc-patterns/orders @grpc-patterns/inventory @grpc-patterns/cli',
      'EXPOSE 50051 50052 50053 50054 50055 50056 9101 9102 9103 9104 9105 9106',
    ]);
    expect(after.split('\n')).toHaveLength(before.split('\n').length);
    expect(() => dockerfileWithApp(before.replace(' -w apps/cli', ''), inventory, existing)).toThrow('expected one / -w apps\\/cli\\b/m (found 0)');
  });

  it('docs/deploy.md: the published gRPC port in the table of what compose publishes', () => {
    const before = read(DEPLOY_FILES.deployDoc);
    const after = deployDocWithPort(before, inventory);
    const row = after.split('\n').find((l) => l.includes('(gRPC, plaintext)'));
    expect(row).toMatch(/^\| (`localhost:\d+`, ){5}`localhost:50056` \| auth, analytics, metrics, chat, orders, inventory \(gRPC, plaintext\) \|/);
    expect(after.split('\n')).toHaveLength(before.split('\n').length);
    expect(() => deployDocWithPort('# no table', inventory)).toThrow('docs/deploy.md: no row');
  });
});
