// `npm run new-service -- inventory` in a temp copy of this checkout, as a user runs it: the
// scaffolded service builds, passes lint, typecheck and its tests, the manifest's checks still
// pass, tools/deploy's checks (all but the Docker Engine ones) pass with the deployment entries it
// wrote, and `npm start` serves it next to the five (GetItem answered with a token from auth).
import { repoRoot } from '@grpc-patterns/testing';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Fresh runs only (no Nx cache from this checkout), no daemon; passes on the backends' URLs.
const ENV = { ...process.env, NX_DAEMON: 'false', NX_SKIP_NX_CACHE: 'true', NX_NO_CLOUD: 'true', FORCE_COLOR: '0' };

/** Runs a command in `cwd` to its end; rejects with its last output lines when it fails. */
function run(cwd: string, command: string, args: string[]): Promise<string> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => {
      const what = `${command.split('/').pop()} ${args.join(' ')}`.replace(/Bearer \S+/, 'Bearer …');
      console.info(`new-service e2e: ${what.length > 140 ? `${what.slice(0, 140)}…` : what}: exit ${code} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output.split('\n').slice(-60).join('\n')}`));
    });
  });
}

/** Copies the files git would commit (tracked and new, not ignored) to `to`. */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: repoRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    let content: Buffer;
    try {
      content = readFileSync(join(repoRoot, file));
    } catch {
      continue; // deleted in the working tree
    }
    mkdirSync(dirname(join(to, file)), { recursive: true });
    writeFileSync(join(to, file), content);
  }
  execFileSync('git', ['init', '-q'], { cwd: to });
}

describe('npm run new-service -- inventory', () => {
  let copy: string;
  beforeAll(() => {
    copy = mkdtempSync(join(tmpdir(), 'grpc-patterns-new-service-'));
    copyCheckout(copy);
  });
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it('scaffolds a service that builds, lints, passes its tests, the manifest and deployment checks, and is SERVING in npm start', async () => {
    await run(copy, 'npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund']);
    const generated = await run(copy, 'npm', ['run', 'new-service', '--', 'inventory']);
    expect(generated).toContain('CREATE apps/inventory/src/inventory-service.ts');
    expect(generated).toContain('CREATE proto/inventory/v1/inventory.proto');
    expect(generated).toContain('UPDATE libs/manifest/src/services.ts');
    expect(generated).toContain('CREATE deploy/k8s/inventory.yaml');
    for (const file of ['docker-compose.yml', 'deploy/prometheus/prometheus.yml', 'deploy/k8s/kustomization.yaml', 'Dockerfile', 'docs/deploy.md']) expect(generated).toContain(`UPDATE ${file}`);
    expect(generated).toContain('new-service: inventory on ports 50056 (gRPC) and 9106 (metrics)');

    const checked = await run(copy, 'npx', ['nx', 'run-many', '-t', 'build', 'lint', 'typecheck', 'test', '-p', '@grpc-patterns/inventory', '@grpc-patterns/manifest', '--outputStyle=stream']);
    expect(checked).toMatch(/inventory: .*Tests: +6 passed, 6 total/);
    expect(checked).toMatch(/Successfully ran targets build, lint, typecheck, test for 2 projects/);
    await run(copy, 'npm', ['run', 'proto:check']);

    // tools/deploy's test target (its jest.config.cjs leaves out *.docker.spec.ts): compose,
    // Dockerfile, k8s, Prometheus, the compose services as processes and the live PromQL checks,
    // every one reading the manifest, so each per-service check runs for inventory too. Read from
    // jest's --json report (Nx keeps --verbose for itself): every test passed, none skipped.
    const report = join(copy, 'deploy-tests.json');
    await run(copy, 'npx', ['nx', 'test', '@grpc-patterns/deploy', '--outputStyle=stream', '--json', `--outputFile=${report}`]);
    const results = JSON.parse(readFileSync(report, 'utf8')) as { numTotalTests: number; numPassedTests: number; testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }> };
    expect(results.numPassedTests).toBe(results.numTotalTests);
    const inventoryTests = results.testResults.flatMap((r) => r.assertionResults.filter((a) => a.title.startsWith('inventory: ')).map((a) => `${a.title} (${a.status})`)).sort();
    expect(inventoryTests).toEqual([
      'inventory: native gRPC probes: readiness on its own service name, liveness and startup on the server (passed)',
      'inventory: one container running the app; every variable known to its config schema, valid, and every required one set (passed)',
      'inventory: terminationGracePeriodSeconds = SHUTDOWN_GRACE_MS/1000 + preStop sleep + 5 s margin (passed)',
      'inventory: the compose HEALTHCHECK command exits 0 and says SERVING (passed)',
      'inventory: every variable is one its config schema knows, with a valid value, and every required one is set (passed)',
    ].sort());

    // npm start, with free ports and no tour; stopped with SIGINT once GetItem answered.
    const stack = spawn('npm', ['start', '--', '--free-ports', '--no-tour', '--data-dir', join(copy, '.data')], { cwd: copy, env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    stack.stdout.on('data', (c: Buffer) => (output += c.toString()));
    stack.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => stack.on('exit', resolve));
    try {
      const deadline = Date.now() + 900_000;
      while (!output.includes('All services SERVING') && Date.now() < deadline && stack.exitCode === null) await new Promise((r) => setTimeout(r, 500));
      expect(output).toMatch(/^ {2}inventory +SERVING in \d+\.\d s {2}127\.0\.0\.1:\d+$/m);
      const target = (name: string) => (new RegExp(`export ${name}_TARGET=ipv4:(127\\.0\\.0\\.1:\\d+)`).exec(output) as RegExpExecArray)[1];
      const buf = (args: string[]) => run(copy, join(copy, 'node_modules', '.bin', 'buf'), ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args]);
      const user = JSON.stringify({ username: 'inventory_e2e', password: 'correct horse battery' });
      await buf(['--data', user, `http://${target('AUTH')}/auth.v1.AuthService/Register`]);
      const token = JSON.parse(await buf(['--data', user, `http://${target('AUTH')}/auth.v1.AuthService/Login`])).tokens.accessToken as string;
      const item = JSON.parse(await buf(['-H', `authorization: Bearer ${token}`, '--data', '{"sku":"GRPC-MUG"}', `http://${target('INVENTORY')}/inventory.v1.InventoryService/GetItem`]));
      expect(item).toEqual({ item: { sku: 'GRPC-MUG', name: 'gRPC mug', quantity: 12 } });
      // Without a token the default policy's deny-by-default holds for the new service too.
      await expect(buf(['--data', '{"sku":"GRPC-MUG"}', `http://${target('INVENTORY')}/inventory.v1.InventoryService/GetItem`])).rejects.toThrow(/unauthenticated/);
    } finally {
      if (stack.exitCode === null) process.kill(-(stack.pid as number), 'SIGINT');
      await exited;
    }
    expect(output).toMatch(/Stopped: .*inventory exit 0/);
  }, 1_800_000);
});
