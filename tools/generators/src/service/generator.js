// @ts-check
/**
 * `npm run new-service -- <name>` (nx g @grpc-patterns/generators:service <name>): a new unary
 * gRPC service that builds, passes lint and its tests and is SERVING in `npm start` with no other
 * edit. Writes proto/<name>/v1, apps/<name>, the manifest entry and the deployment entries
 * (deploy-entries.js, deploy/k8s/<name>.yaml); then npm install (links the workspace), codegen
 * and nx sync. docs/adding-a-service.md says what each file is for.
 */
const { generateFiles, names } = require('@nx/devkit');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const { writeDeployEntries } = require('./deploy-entries.js');

const MANIFEST = 'libs/manifest/src/services.ts';
const END_OF_LIST = '] as const satisfies readonly ServiceManifest[];';
/** The services a new one calls: auth, whose public keys verify its callers' tokens (config.ts's AUTH_TARGET). */
const DEPENDS_ON = ['auth'];

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
  /** @param {string} field */
  const all = (field) => [...manifest.matchAll(new RegExp(`${field}: (\\d+)`, 'g'))].map((m) => Number(m[1]));
  const existing = { grpcPorts: all('grpcPort'), metricsPorts: all('metricsPort') };
  const ports = { grpcPort: Math.max(...existing.grpcPorts) + 1, metricsPort: Math.max(...existing.metricsPorts) + 1 };
  const n = names(name);
  // The `<NAME>_TARGET`s of its dependencies, at their manifest ports (deploy/k8s's dns:/// targets).
  const targets = DEPENDS_ON.map((dep) => {
    const port = new RegExp(`name: '${dep}',[^}]*?grpcPort: (\\d+)`).exec(manifest);
    if (!port) throw new Error(`new-service: ${MANIFEST} has no grpcPort for ${dep}`);
    return { name: dep, variable: `${dep.toUpperCase()}_TARGET`, grpcPort: Number(port[1]) };
  });
  const substitutions = { ...n, ...ports, targets, tmpl: '', fullName: `${name}.v1.${n.className}Service` };
  generateFiles(tree, join(__dirname, 'files'), '.', substitutions);
  const entry = [
    '  {',
    `    name: '${name}',`,
    `    fullName: '${substitutions.fullName}',`,
    `    rpcShape: 'unary',`,
    `    grpcPort: ${ports.grpcPort},`,
    `    metricsPort: ${ports.metricsPort},`,
    '    publicMethods: [],',
    `    dependsOn: [${DEPENDS_ON.map((d) => `'${d}'`).join(', ')}],`,
    "    state: { kind: 'none' },",
    '  },',
  ].join('\n');
  tree.write(MANIFEST, manifest.replace(END_OF_LIST, `${entry}\n${END_OF_LIST}`));
  writeDeployEntries(tree, { name, fullName: substitutions.fullName, ...ports, dependsOn: DEPENDS_ON }, existing);
  if (options.skipInstall) return undefined;
  return () => {
    /** @param {string} command @param {string[]} args */
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
