// Prints one closing line for the whole `npm test` run: "jest: N passed, N failed, N skipped",
// summed over every project's last recorded run (see summary-reporter.cjs), after the name and
// first message lines of each failed test, so the tail of a CI log says what failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '..', '..', 'tmp', 'test-results');
const totals = { passed: 0, failed: 0, skipped: 0 };
const files = existsSync(dir)
  ? readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('summary.json'))
  : [];
const failures = [];
for (const file of files) {
  const r = JSON.parse(readFileSync(join(dir, String(file)), 'utf8'));
  for (const k of Object.keys(totals)) totals[k] += r[k];
  failures.push(...(r.failures ?? []));
}
for (const f of failures) console.log(`\nFAILED ${f.file} > ${f.test}\n${f.message}`);
console.log(`\njest (${files.length} project${files.length === 1 ? "" : "s"}):`);
console.log(`jest: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
// argv[2]: the exit code of the `nx run-many` before it (npm test passes $?), kept if non-zero.
const nxCode = Number(process.argv[2] ?? 0);
process.exit(nxCode || (totals.failed > 0 || files.length === 0 ? 1 : 0));
