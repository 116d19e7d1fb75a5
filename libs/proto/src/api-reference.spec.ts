// docs/api-reference.md is generated from proto/'s comments (scripts/api-reference.mjs) and
// must be current: a proto edit without `npm run proto:docs` fails here.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

describe('docs/api-reference.md', () => {
  it('is current with proto/', () => {
    const run = spawnSync(process.execPath, [join(root, 'libs', 'proto', 'scripts', 'api-reference.mjs'), '--check'], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('lists every service and method of proto/', () => {
    const reference = readFileSync(join(root, 'docs', 'api-reference.md'), 'utf8');
    for (const service of ['analytics', 'auth', 'chat', 'metrics', 'orders']) {
      const proto = readFileSync(join(root, 'proto', service, 'v1', `${service}.proto`), 'utf8');
      for (const [, rpc] of proto.matchAll(/^\s*rpc (\w+)\(/gm)) expect(reference).toContain(`| ${rpc} |`);
      for (const [, message] of proto.matchAll(/^message (\w+) \{/gm)) expect(reference).toContain(`### ${message}\n`);
    }
  });
});
