// The files git would commit (tracked and new, not ignored) that the structure specs read.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..', '..');

/** Paths relative to the repo root matching `pattern`, outside generated code (`/gen/`) and tests (`*.spec.ts`, `test/`). */
export function sourceFiles(pattern: RegExp): string[] {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\n')
    .filter((f) => pattern.test(f) && !f.includes('/gen/') && !/\.spec\.ts$|\/test\//.test(f) && existsSync(join(repoRoot, f)));
}
