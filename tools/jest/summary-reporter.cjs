// Jest reporter: records each project's totals in tmp/test-results/<project>.json, so
// `npm test` can end with one line counting every project's tests (tools/jest/print-summary.mjs).
const { mkdirSync, writeFileSync } = require('node:fs');
const { basename, join } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const dir = join(__dirname, '..', '..', 'tmp', 'test-results');
    mkdirSync(dir, { recursive: true });
    const name = this.rootDir.split(/[\\/]/).slice(-2).join('-') || basename(this.rootDir);
    writeFileSync(
      join(dir, `${name}.json`),
      JSON.stringify({ passed: results.numPassedTests, failed: results.numFailedTests, skipped: results.numPendingTests + results.numTodoTests }),
    );
  }
}
module.exports = SummaryReporter;
