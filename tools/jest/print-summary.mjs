// Prints one closing line for the whole `npm test` run: "jest: N passed, N failed, N skipped",
// summed over every project's last recorded run (see summary-reporter.cjs).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '..', '..', 'tmp', 'test-results');
const totals = { passed: 0, failed: 0, skipped: 0 };
const files = existsSync(dir)
  ? readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('summary.json'))
  : [];
for (const file of files) {
  const r = JSON.parse(readFileSync(join(dir, String(file)), 'utf8'));
  for (const k of Object.keys(totals)) totals[k] += r[k];
}
console.log(`\njest (${files.length} projects):`);
console.log(`jest: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 || files.length === 0 ? 1 : 0);
