// One idea per file: no source file outside generated code and tests grows past MAX_LINES
// (docs/architecture.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sourceFiles } from '../test/source-files';

const MAX_LINES = 300;

describe('file sizes', () => {
  it(`no source file outside generated code and tests is over ${MAX_LINES} lines, and none is allowed to be`, () => {
    const over = sourceFiles(/\.(ts|mjs|cjs|js|go|py)$/)
      .map((f) => ({ f, lines: readFileSync(join(repoRoot, f), 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ f, lines }) => `${f}: ${lines} lines`);
    expect(over).toEqual([]);
  });
});
