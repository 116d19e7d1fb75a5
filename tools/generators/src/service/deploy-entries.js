// @ts-check
/**
 * The deployment entries of a new service, written next to the existing five in their own style:
 * a docker-compose.yml service (and Prometheus' depends_on), a deploy/prometheus scrape target, a
 * deploy/k8s kustomization resource (the manifest itself is a template in files/deploy/k8s), the
 * Dockerfile's per-project lists and EXPOSE, and docs/deploy.md's published ports. tools/deploy's
 * specs compare each of these with the manifest. The YAML files are located with the `yaml`
 * parser and the entries inserted as text (its stringify would re-render untouched lines:
 * prometheus.yml mixes `["a"]` and `{ a: b }` padding), then the result is parsed back and checked.
 */
const { parse, parseDocument, isMap, isSeq } = require('yaml');

/**
 * @typedef {object} DeployService
 * @property {string} name app folder, compose and Kubernetes name ("inventory")
 * @property {string} fullName full gRPC service name ("inventory.v1.InventoryService")
 * @property {number} grpcPort default GRPC_PORT
 * @property {number} metricsPort default METRICS_PORT
 * @property {readonly string[]} dependsOn services it calls (one `<NAME>_TARGET` each)
 */

/** The files {@link writeDeployEntries} updates (deploy/k8s/<name>.yaml comes from files/). */
const DEPLOY_FILES = {
  compose: 'docker-compose.yml',
  prometheus: 'deploy/prometheus/prometheus.yml',
  kustomization: 'deploy/k8s/kustomization.yaml',
  dockerfile: 'Dockerfile',
  deployDoc: 'docs/deploy.md',
};

/** @param {string} file @param {string} text */
function parseYaml(file, text) {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`new-service: ${file} does not parse: ${doc.errors[0].message}`);
  return doc;
}

/**
 * The offset where lines go after `node`: the end of its last line (past a trailing comment),
 * before the blank lines the parser counts into a block collection's range.
 * @param {string} text @param {{ range?: [number, number, number] | null }} node
 */
function endOfNode(text, node) {
  if (!node.range) throw new Error('new-service: a YAML node without a source range');
  let end = node.range[1];
  while (end > 0 && /\s/.test(text[end - 1])) end--;
  const newline = text.indexOf('\n', end);
  return newline === -1 ? text.length : newline;
}

/**
 * `text` with `lines` appended to the block sequence `seq` as one more `- ` entry, indented as its
 * last entry (continuation lines line up under the first).
 * @param {string} file @param {string} text @param {unknown} seq @param {string[]} lines
 */
function appendToSequence(file, text, seq, lines) {
  if (!isSeq(seq) || seq.flow || seq.items.length === 0) throw new Error(`new-service: ${file}: expected a non-empty block sequence`);
  const last = /** @type {{ range?: [number, number, number] | null }} */ (seq.items[seq.items.length - 1]);
  const start = last.range?.[0] ?? 0;
  const dash = text.slice(text.lastIndexOf('\n', start - 1) + 1, start);
  if (!/^ *- $/.test(dash)) throw new Error(`new-service: ${file}: expected "- " before the sequence's last entry, found ${JSON.stringify(dash)}`);
  const at = endOfNode(text, last);
  return `${text.slice(0, at)}\n${dash}${lines.join(`\n${' '.repeat(dash.length)}`)}${text.slice(at)}`;
}

/** @param {string} file @param {boolean} ok @param {string} what */
function check(file, ok, what) {
  if (!ok) throw new Error(`new-service: ${file}: ${what}`);
}

/**
 * docker-compose.yml with the service after the last one that runs an app (same anchors,
 * variables, published port on 127.0.0.1, `grpc-patterns health` check) and in Prometheus'
 * depends_on. @throws Error when the file already has it or lacks that structure.
 * @param {string} text @param {DeployService} s
 */
function composeWithService(text, s) {
  const file = DEPLOY_FILES.compose;
  const doc = parseYaml(file, text);
  const services = doc.get('services');
  check(file, isMap(services), 'no services map');
  const json = /** @type {{ services: Record<string, { command?: unknown; depends_on?: unknown }> }} */ (doc.toJS());
  check(file, !(s.name in json.services), `has a service ${s.name} already`);
  const apps = Object.keys(json.services).filter((name) => /apps\/[a-z]+\/dist\/main\.js/.test(JSON.stringify(json.services[name].command ?? '')));
  check(file, apps.length > 0, 'no service runs apps/<name>/dist/main.js');
  const after = /** @type {import('yaml').YAMLMap} */ (services).items.find((p) => /** @type {{ value?: unknown }} */ (p.key).value === apps[apps.length - 1]);
  const health = ['CMD', 'node', 'apps/cli/dist/main.js', 'health', '--target', `127.0.0.1:${s.grpcPort}`, '--service', s.fullName];
  const block = [
    '',
    `  ${s.name}:`,
    '    <<: *grpc-service',
    `    command: ["node", "apps/${s.name}/dist/main.js"]`,
    '    environment:',
    '      <<: *common-env',
    `      GRPC_PORT: "${s.grpcPort}"`,
    `      METRICS_PORT: "${s.metricsPort}"`,
    ...s.dependsOn.map((dep) => `      ${dep.toUpperCase()}_TARGET: consul://consul:8500/${dep}`),
    '    ports:',
    `      - "127.0.0.1:${s.grpcPort}:${s.grpcPort}"`,
    '    healthcheck:',
    `      test: [${health.map((w) => JSON.stringify(w)).join(', ')}]`,
    '      interval: 10s',
    '      timeout: 5s',
    '      retries: 3',
    '      start_period: 30s',
  ];
  const at = endOfNode(text, /** @type {{ value: { range: [number, number, number] } }} */ (after).value);
  let result = `${text.slice(0, at)}\n${block.join('\n')}${text.slice(at)}`;
  const prometheus = parseYaml(file, result).getIn(['services', 'prometheus', 'depends_on']);
  if (isSeq(prometheus)) result = appendToSequence(file, result, prometheus, [s.name]);
  const added = /** @type {{ services: Record<string, { command?: unknown; environment?: Record<string, unknown> }> }} */ (parse(result, { merge: true })).services[s.name];
  check(file, JSON.stringify(added?.command) === JSON.stringify(['node', `apps/${s.name}/dist/main.js`]) && added?.environment?.['GRPC_PORT'] === String(s.grpcPort), `the ${s.name} service did not read back`);
  return result;
}

/**
 * prometheus.yml with `<name>:<metricsPort>` (label `service: <name>`) in the services job.
 * @throws Error when the job is missing or already scrapes the service.
 * @param {string} text @param {DeployService} s @param {string} job the services job ("grpc-patterns")
 */
function prometheusWithTarget(text, s, job = 'grpc-patterns') {
  const file = DEPLOY_FILES.prometheus;
  const doc = parseYaml(file, text);
  const jobs = doc.get('scrape_configs');
  check(file, isSeq(jobs), 'no scrape_configs');
  const found = /** @type {import('yaml').YAMLSeq} */ (jobs).items.find((j) => isMap(j) && j.get('job_name') === job);
  check(file, isMap(found), `no job ${job}`);
  const staticConfigs = /** @type {import('yaml').YAMLMap} */ (found).get('static_configs');
  const labels = JSON.stringify(/** @type {{ toJSON(): unknown }} */ (staticConfigs).toJSON());
  check(file, !labels.includes(`"service":"${s.name}"`), `job ${job} scrapes ${s.name} already`);
  return appendToSequence(file, text, staticConfigs, [`targets: ["${s.name}:${s.metricsPort}"]`, `labels: { service: ${s.name} }`]);
}

/**
 * kustomization.yaml with `<name>.yaml` as its last resource. @throws Error when it is listed.
 * @param {string} text @param {DeployService} s
 */
function kustomizationWithResource(text, s) {
  const file = DEPLOY_FILES.kustomization;
  const resources = parseYaml(file, text).get('resources');
  check(file, isSeq(resources) && !resources.items.some((r) => /** @type {{ value?: unknown }} */ (r).value === `${s.name}.yaml`), `no resources list, or ${s.name}.yaml in it already`);
  return appendToSequence(file, text, resources, [`${s.name}.yaml`]);
}

/**
 * The Dockerfile with the app in prod-deps' `-w` list and the build's `-p` list (before the
 * CLI's), and its ports in EXPOSE (after the last gRPC and metrics port of `existing`).
 * @throws Error when a list is not found exactly once.
 * @param {string} text @param {DeployService} s @param {{ grpcPorts: number[]; metricsPorts: number[] }} existing the manifest's other ports
 */
function dockerfileWithApp(text, s, existing) {
  const file = DEPLOY_FILES.dockerfile;
  /** @param {string} t @param {RegExp} pattern @param {(match: string) => string} replace */
  const once = (t, pattern, replace) => {
    const matches = t.match(new RegExp(pattern, 'gm')) ?? [];
    check(file, matches.length === 1, `expected one ${pattern} (found ${matches.length})`);
    return t.replace(pattern, replace);
  };
  let result = once(text, / -w apps\/cli\b/m, () => ` -w apps/${s.name} -w apps/cli`);
  result = once(result, / @grpc-patterns\/cli\b/m, () => ` @grpc-patterns/${s.name} @grpc-patterns/cli`);
  return once(result, /^EXPOSE .*$/m, (line) => {
    const ports = line.slice('EXPOSE '.length).split(' ');
    /** @param {number[]} group @param {number} port */
    const insert = (group, port) => {
      const last = Math.max(...ports.map((p, i) => (group.includes(Number(p)) ? i : -1)));
      check(file, last >= 0, `EXPOSE has none of ${group.join(', ')}`);
      ports.splice(last + 1, 0, String(port));
    };
    insert(existing.grpcPorts, s.grpcPort);
    insert(existing.metricsPorts, s.metricsPort);
    return `EXPOSE ${ports.join(' ')}`;
  });
}

/**
 * docs/deploy.md with `localhost:<grpcPort>` and the name in its row of published gRPC ports
 * (the compose spec checks every published port is listed). @throws Error when the row is missing.
 * @param {string} text @param {DeployService} s
 */
function deployDocWithPort(text, s) {
  const row = /^(\| (?:`localhost:\d+`, )*`localhost:\d+`) \| ([a-z]+(?:, [a-z]+)*) \(gRPC, plaintext\)/m;
  check(DEPLOY_FILES.deployDoc, row.test(text), 'no row "| `localhost:<port>`, ... | <services> (gRPC, plaintext) |"');
  return text.replace(row, (_m, ports, names) => `${ports}, \`localhost:${s.grpcPort}\` | ${names}, ${s.name} (gRPC, plaintext)`);
}

/**
 * Writes every entry above into `tree` (deploy/k8s/<name>.yaml itself is a template).
 * @throws Error naming a missing file, or from the edits.
 * @param {import('@nx/devkit').Tree} tree @param {DeployService} s @param {{ grpcPorts: number[]; metricsPorts: number[] }} existing
 */
function writeDeployEntries(tree, s, existing) {
  /** @param {string} file @param {(text: string) => string} edit */
  const update = (file, edit) => {
    const text = tree.read(file, 'utf8');
    if (text === null) throw new Error(`new-service: ${file} is missing`);
    tree.write(file, edit(text));
  };
  update(DEPLOY_FILES.compose, (t) => composeWithService(t, s));
  update(DEPLOY_FILES.prometheus, (t) => prometheusWithTarget(t, s));
  update(DEPLOY_FILES.kustomization, (t) => kustomizationWithResource(t, s));
  update(DEPLOY_FILES.dockerfile, (t) => dockerfileWithApp(t, s, existing));
  update(DEPLOY_FILES.deployDoc, (t) => deployDocWithPort(t, s));
}

module.exports = { DEPLOY_FILES, composeWithService, prometheusWithTarget, kustomizationWithResource, dockerfileWithApp, deployDocWithPort, writeDeployEntries };
