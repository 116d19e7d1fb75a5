/**
 * `npm run docs:check`: starts the stack, runs every `<!-- doctest -->` block of the docs, prints
 * a line per block and exits 1 if one failed or a shell block is unmarked (docs/documented-commands.md).
 */
import { repoRoot } from '@grpc-patterns/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBlocks } from './blocks.js';
import { brokenLinks } from './links.js';
import { docFiles, runBlocks, startDocStack } from './run-docs.js';

export * from './blocks.js';
export * from './links.js';
export * from './run-docs.js';

async function main(): Promise<number> {
  const files = docFiles(repoRoot);
  let failed = 0;
  for (const link of files.flatMap((f) => brokenLinks(repoRoot, f))) {
    failed++;
    process.stdout.write(`broken link ${link}\n`);
  }
  const blocks = files.map((f) => parseBlocks(f, readFileSync(join(repoRoot, f), 'utf8')));
  for (const b of blocks.flat().filter((b) => b.mode === 'unmarked')) {
    failed++;
    process.stdout.write(`unmarked ${b.file}:${b.line}: add <!-- doctest --> or <!-- doctest: skip <reason> -->\n`);
  }
  process.stdout.write('docs: starting the stack on the default ports ...\n');
  const stack = await startDocStack(repoRoot);
  try {
    for (const fileBlocks of blocks) {
      const run = fileBlocks.filter((b) => b.mode === 'run');
      if (run.length === 0) continue;
      for (const r of await runBlocks(repoRoot, run, process.env)) {
        process.stdout.write(`${r.status.padEnd(7)} ${r.block.file}:${r.block.line}\n`);
        if (r.status === 'failed') {
          failed++;
          process.stdout.write(r.message + '\n');
        }
      }
    }
  } finally {
    await stack.stop();
  }
  process.stdout.write(`docs: ${failed === 0 ? 'every documented command passed' : `${failed} failed`}\n`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) void main().then((code) => (process.exitCode = code));
