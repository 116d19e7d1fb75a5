// Every Markdown file's relative links resolve, and every shell block it shows is marked either
// runnable (<!-- doctest -->, run by doc-commands.e2e.spec.ts) or skipped with a reason.
import { repoRoot } from '@grpc-patterns/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBlocks } from './blocks.js';
import { brokenLinks } from './links.js';
import { docFiles } from './run-docs.js';

const files = docFiles(repoRoot);

describe('the docs', () => {
  it('are found: README, the app READMEs and docs/', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'apps/auth/README.md', 'docs/reliability.md']));
  });

  it('have no broken relative link or anchor', () => {
    expect(files.flatMap((f) => brokenLinks(repoRoot, f))).toEqual([]);
  });

  it('mark every shell block runnable or skipped with a reason', () => {
    const unmarked = files.flatMap((f) => parseBlocks(f, readFileSync(join(repoRoot, f), 'utf8'))).filter((b) => b.mode === 'unmarked');
    expect(unmarked.map((b) => `${b.file}:${b.line}`)).toEqual([]);
  });

  it('PATTERNS.md names symbols that exist in the files it links', () => {
    const text = readFileSync(join(repoRoot, 'PATTERNS.md'), 'utf8');
    const missing: string[] = [];
    for (const [, label, path] of text.matchAll(/\[((?:`[^`]+`(?:, )?)+)\]\(([^)#]+)\)/g)) {
      const source = readFileSync(join(repoRoot, path), 'utf8');
      for (const [, symbol] of label.matchAll(/`([^`]+)`/g)) if (!source.includes(symbol)) missing.push(`${symbol} in ${path}`);
    }
    expect(missing).toEqual([]);
  });
});
