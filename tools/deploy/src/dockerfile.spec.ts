// The Dockerfile, checked statically: the sources it copies exist and reach the build context,
// the layers are ordered for the cache (manifests before sources), the Nx build names real
// projects with a build target, the runtime stage gets only production node_modules of the
// runtime workspaces and their dist/, it runs as a numeric non-root user, and its CMD and
// HEALTHCHECK are real commands (run as plain processes in containers.spec.ts; the image itself
// is built and run on a Docker Engine by image.docker.spec.ts).
import { repoRoot } from '@grpc-patterns/testing';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { copyParts, DOCKERFILE, dockerignorePatterns, execForm, healthcheckParts, IMAGE_APPS, isIgnored, parseStages, runtimeWorkspaces } from './dockerfile';
import { DEPLOY_SERVICES } from './services';

const stages = parseStages(readFileSync(DOCKERFILE, 'utf8'));
const ignore = dockerignorePatterns();
const final = stages[stages.length - 1];
const finalOf = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword);
const stage = (name: string) => stages.find((s) => s.name === name) as (typeof stages)[number];

/** Workspace projects: package name -> folder. */
const projects = new Map(
  ['apps', 'libs', 'tools'].flatMap((root) =>
    readdirSync(join(repoRoot, root))
      .filter((d) => existsSync(join(repoRoot, root, d, 'package.json')))
      .map((d) => [JSON.parse(readFileSync(join(repoRoot, root, d, 'package.json'), 'utf8')).name as string, join(root, d)] as const),
  ),
);

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage on a Node image the engines field allows', () => {
    expect(stages.map((s) => s.name)).toEqual(['manifests', 'deps', 'prod-deps', 'build', 'runtime']);
    const engines = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).engines.node as string;
    const minimumMajor = Number(/>=\s*(\d+)/.exec(engines)?.[1]);
    // Stages FROM an earlier stage (deps) inherit its image.
    for (const s of stages.filter((x) => !stages.some((y) => y.name === x.image))) {
      const major = Number(/^node:(\d+)/.exec(s.image)?.[1]);
      expect(major).toBeGreaterThanOrEqual(minimumMajor);
    }
  });

  it('copies only sources that exist and that .dockerignore lets into the context', () => {
    const copies = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD'));
    for (const copy of copies) {
      const { flags, sources } = copyParts(copy.args);
      if (flags['from'] !== undefined) {
        // From an earlier stage, by name.
        expect(stages.slice(0, stages.indexOf(final)).map((s) => s.name)).toContain(flags['from']);
        continue;
      }
      for (const source of sources) {
        expect(existsSync(join(repoRoot, source))).toBe(true);
        if (source !== '.') expect(isIgnored(source, ignore)).toBe(false);
      }
    }
  });

  it('sends what the build needs and none of the local build output, data or VCS history', () => {
    for (const needed of ['package.json', 'package-lock.json', 'nx.json', 'tsconfig.base.json', 'tsconfig.json', 'proto/auth/v1/auth.proto', 'libs/proto/scripts/codegen.mjs', 'apps/orders/src/main.ts', 'libs/grpc-kit/src/server.ts', 'tools/deploy/package.json']) {
      expect(`${needed}: ${isIgnored(needed, ignore) ? 'ignored' : 'sent'}`).toBe(`${needed}: sent`);
    }
    for (const excluded of ['.certs/ca.key', 'apps/auth/.certs/x.key', 'tmp/test-results/x.json', '.nx/cache/x', 'node_modules/zod/package.json', 'apps/auth/dist/main.js', 'apps/auth/node_modules/x', 'libs/proto/src/gen/auth/v1/auth.ts', '.data/auth/PG_VERSION', '.git/HEAD', 'libs/config/dist/tsconfig.lib.tsbuildinfo']) {
      expect(`${excluded}: ${isIgnored(excluded, ignore) ? 'ignored' : 'sent'}`).toBe(`${excluded}: ignored`);
    }
  });

  it('builds, with Nx, the five services and the CLI: real projects with a build target', () => {
    const run = stage('build').instructions.find((i) => i.keyword === 'RUN' && i.args.includes('nx run-many'));
    expect(run).toBeDefined();
    const m = /nx run-many -t build -p ((?:@grpc-patterns\/[a-z-]+ ?)+)/.exec(run?.args ?? '');
    const built = (m?.[1] ?? '').trim().split(' ');
    expect(built.sort()).toEqual([...DEPLOY_SERVICES.map((s) => `@grpc-patterns/${s.name}`), '@grpc-patterns/cli'].sort());
    for (const name of built) {
      const folder = projects.get(name);
      expect(folder).toBeDefined();
      // @nx/js/typescript infers `build` from tsconfig.lib.json (nx.json plugins).
      expect(existsSync(join(repoRoot, folder ?? '', 'tsconfig.lib.json'))).toBe(true);
    }
  });

  it('installs dependencies from the manifests alone, before the sources, so a source change keeps the npm ci layer', () => {
    const deps = stage('deps').instructions;
    const copy = deps.find((i) => i.keyword === 'COPY');
    expect(copyParts(copy?.args ?? '')).toEqual({ flags: { from: 'manifests' }, sources: ['/manifests/'], destination: './' });
    expect(deps.find((i) => i.keyword === 'RUN')?.args).toBe('npm ci --no-audit --no-fund');
    expect(deps.some((i) => i.keyword === 'COPY' && copyParts(i.args).sources.includes('.'))).toBe(false);
    // The build stage starts from deps and only then copies the sources.
    expect(stage('build').image).toBe('deps');
    expect(stage('build').instructions[0]).toMatchObject({ keyword: 'COPY', args: '. .' });
  });

  it('ships production node_modules of exactly the five services and the CLI, and only their workspaces\' dist/', () => {
    const install = stage('prod-deps').instructions.find((i) => i.keyword === 'RUN')?.args ?? '';
    expect(install).toMatch(/^npm ci --omit=dev .*--include-workspace-root=false/);
    expect([...install.matchAll(/-w (\S+)/g)].map((m) => m[1]).sort()).toEqual(IMAGE_APPS.map((a) => `apps/${a}`).sort());
    // libs/testing is linked by the apps' devDependencies only: its link is removed.
    expect(runtimeWorkspaces()).not.toContain('libs/testing');
    expect(install).toContain('rm node_modules/@grpc-patterns/testing');
    expect(runtimeWorkspaces()).toEqual([...IMAGE_APPS.map((a) => `apps/${a}`), 'libs/config', 'libs/discovery', 'libs/grpc-kit', 'libs/interceptors', 'libs/manifest', 'libs/observability', 'libs/proto', 'libs/runtime'].sort());
    const copies = finalOf('COPY').map((i) => copyParts(i.args));
    expect(copies).toEqual([
      { flags: { from: 'prod-deps' }, sources: ['/prod/'], destination: './' },
      { flags: { from: 'build' }, sources: ['/out/'], destination: './' },
    ]);
  });

  it('runs as a numeric non-root user, set after the last root step and before CMD and HEALTHCHECK', () => {
    const users = finalOf('USER');
    expect(users).toHaveLength(1);
    const [uid] = users[0].args.split(':');
    expect(uid).toMatch(/^\d+$/); // numeric: Kubernetes' runAsNonRoot can verify it
    expect(Number(uid)).toBeGreaterThan(0);
    const index = (keyword: string) => final.instructions.findIndex((i) => i.keyword === keyword);
    const lastRun = final.instructions.map((i) => i.keyword).lastIndexOf('RUN');
    expect(final.instructions.indexOf(users[0])).toBeGreaterThan(lastRun);
    expect(final.instructions.indexOf(users[0])).toBeLessThan(index('CMD'));
    expect(final.instructions.indexOf(users[0])).toBeLessThan(index('HEALTHCHECK'));
  });

  it('checks health with the CLI\'s `health` command on GRPC_PORT', () => {
    const [healthcheck] = finalOf('HEALTHCHECK');
    const { options, command } = healthcheckParts(healthcheck.args);
    expect(Object.keys(options).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    expect(command).toBe('node apps/cli/dist/main.js health --target "127.0.0.1:${GRPC_PORT}" || exit 1');
  });

  it('has an exec-form CMD of the CLI and exposes every service\'s gRPC and metrics port', () => {
    expect(execForm(finalOf('CMD')[0].args)).toEqual(['node', 'apps/cli/dist/main.js', '--help']);
    const exposed = finalOf('EXPOSE').flatMap((i) => i.args.split(' ').map(Number));
    expect(exposed.sort()).toEqual(DEPLOY_SERVICES.flatMap((s) => [s.grpcPort, s.metricsPort]).sort());
  });
});

describe('isIgnored (.dockerignore matching)', () => {
  it('follows Docker\'s rules: ** across directories, * within one, directories exclude their contents, ! re-includes', () => {
    expect(isIgnored('a/b/node_modules/x', ['**/node_modules'])).toBe(true);
    expect(isIgnored('node_modules', ['**/node_modules'])).toBe(true);
    expect(isIgnored('libs/x/dist/a.js', ['libs/*/dist'])).toBe(true);
    expect(isIgnored('libs/x/y/dist/a.js', ['libs/*/dist'])).toBe(false);
    expect(isIgnored('docs/a.md', ['docs', '!docs/a.md'])).toBe(false);
    expect(isIgnored('src/index.ts', ['**/*.tsbuildinfo'])).toBe(false);
  });
});
