// `npm run proto:check`: buf lint (STANDARD) and buf breaking (FILE) of proto/ against the newest
// released image in proto/releases/ (docs/proto-versioning.md). Usage: proto-check.mjs [module-dir].
// Exit 0 when both pass; otherwise buf's findings are printed and the exit code is buf's.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');
const releases = join(root, 'proto', 'releases');
const module = process.argv[2] ?? join(root, 'proto');

/** Newest `vX.Y.Z.binpb` in proto/releases by semantic version. */
function newestRelease() {
  const versions = readdirSync(releases)
    .map((f) => /^v(\d+)\.(\d+)\.(\d+)\.binpb$/.exec(f))
    .filter(Boolean)
    .sort((a, b) => a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  if (versions.length === 0) throw new Error(`proto-check: no vX.Y.Z.binpb in ${releases}`);
  return join(releases, versions.at(-1)[0]);
}

const against = newestRelease();
for (const args of [['lint', module], ['breaking', module, '--against', against]]) {
  const run = spawnSync(buf, args, { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
console.log(`proto-check: lint and breaking (FILE) pass against ${relative(root, against)}`);
