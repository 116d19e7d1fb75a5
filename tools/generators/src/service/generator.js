// @ts-check
/**
 * `npm run new-service -- <name>` (nx g @grpc-patterns/generators:service <name>): a new unary
 * gRPC service that builds, passes lint and its tests and is SERVING in `npm start` with no other
 * edit. Writes proto/<name>/v1, apps/<name> and the manifest entry; then npm install (links the
 * workspace), codegen and nx sync. docs/adding-a-service.md says what each file is for.
 */
const { generateFiles, names } = require('@nx/devkit');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const MANIFEST = 'libs/manifest/src/services.ts';
const END_OF_LIST = '] as const satisfies readonly ServiceManifest[];';

/**
 * @param {import('@nx/devkit').Tree} tree
 * @param {{ name: string; skipInstall?: boolean }} options
 */
async function serviceGenerator(tree, options) {
  const name = options.name;
  if (!/^[a-z]+$/.test(name)) throw new Error(`new-service: the name must be lower-case letters only (got ${JSON.stringify(name)})`);
  if (tree.exists(`apps/${name}`) || tree.exists(`proto/${name}`)) throw new Error(`new-service: apps/${name} or proto/${name} exists already`);
  const manifest = tree.read(MANIFEST, 'utf8') ?? '';
  if (!manifest.includes(END_OF_LIST)) throw new Error(`new-service: ${MANIFEST} does not end its list with "${END_OF_LIST}"`);
  if (new RegExp(`name: '${name}'`).test(manifest)) throw new Error(`new-service: ${name} is in ${MANIFEST} already`);
  // The next free ports after the manifest's highest.
  const highest = (field) => Math.max(...[...manifest.matchAll(new RegExp(`${field}: (\\d+)`, 'g'))].map((m) => Number(m[1])));
  const ports = { grpcPort: highest('grpcPort') + 1, metricsPort: highest('metricsPort') + 1 };
  const n = names(name);
  const substitutions = { ...n, ...ports, tmpl: '', fullName: `${name}.v1.${n.className}Service` };
  generateFiles(tree, join(__dirname, 'files'), '.', substitutions);
  const entry = [
    '  {',
    `    name: '${name}',`,
    `    fullName: '${substitutions.fullName}',`,
    `    rpcShape: 'unary',`,
    `    grpcPort: ${ports.grpcPort},`,
    `    metricsPort: ${ports.metricsPort},`,
    '    publicMethods: [],',
    "    dependsOn: ['auth'],",
    "    state: { kind: 'none' },",
    '  },',
  ].join('\n');
  tree.write(MANIFEST, manifest.replace(END_OF_LIST, `${entry}\n${END_OF_LIST}`));
  if (options.skipInstall) return undefined;
  return () => {
    const run = (command, args) => execFileSync(command, args, { cwd: tree.root, stdio: 'inherit' });
    run('npm', ['install', '--no-audit', '--no-fund']);
    run('npm', ['run', 'codegen']);
    run('npm', ['run', 'proto:docs']);
    run('npx', ['nx', 'sync']);
    console.log(`new-service: ${name} on ports ${ports.grpcPort} (gRPC) and ${ports.metricsPort} (metrics). Try: npx nx test @grpc-patterns/${name}; npm start`);
  };
}

module.exports = serviceGenerator;
module.exports.default = serviceGenerator;
