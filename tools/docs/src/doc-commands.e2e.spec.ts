// Documented commands are tests (grpc-go's examples_test.sh, the idea): the stack as `npm start`
// runs it, on the default ports, then every <!-- doctest --> block of every doc, each checked
// against the output the doc shows (docs/documented-commands.md).
import { repoRoot } from '@grpc-patterns/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBlocks } from './blocks.js';
import { docFiles, runBlocks, startDocStack, type DocStack } from './run-docs.js';

const byFile = docFiles(repoRoot)
  .map((file) => ({ file, blocks: parseBlocks(file, readFileSync(join(repoRoot, file), 'utf8')).filter((b) => b.mode === 'run') }))
  .filter((f) => f.blocks.length > 0);

describe('documented commands', () => {
  let stack: DocStack;
  beforeAll(async () => {
    stack = await startDocStack(repoRoot);
  }, 300_000);
  afterAll(async () => {
    expect(await stack?.stop()).toBe(0);
  }, 60_000);

  it.each(byFile.map((f) => [f.file, f] as const))('%s', async (_file, { blocks }) => {
    const results = await runBlocks(repoRoot, blocks, process.env);
    const failed = results.filter((r) => r.status !== 'passed').map((r) => `${r.block.file}:${r.block.line} ${r.status}${r.message ? `\n${r.message}` : ''}`);
    expect(failed).toEqual([]);
  });
});
