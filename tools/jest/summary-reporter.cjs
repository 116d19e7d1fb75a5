// Jest reporter: records each project's totals in tmp/test-results/<project root>/summary.json,
// so `npm test` can end with one line counting every project's tests (print-summary.mjs). The
// folder is the test target's Nx output (nx.json), so a run restored from Nx's cache restores
// its counts too.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const repoRoot = join(__dirname, '..', '..');

class SummaryReporter {
  // options.results: the folder under tmp/test-results instead of the project root, for a
  // second jest config of the same project (tools/deploy's docker-test target).
  constructor(globalConfig, options = {}) {
    this.rootDir = globalConfig.rootDir;
    this.results = options.results;
  }
  onRunComplete(_contexts, results) {
    const dir = join(repoRoot, 'tmp', 'test-results', this.results ?? relative(repoRoot, this.rootDir));
    mkdirSync(dir, { recursive: true });
    // Each failed test's file, name and first message lines: a CI log's tail then names them.
    const failures = results.testResults.flatMap((file) => {
      const where = relative(repoRoot, file.testFilePath);
      const failed = file.testResults
        .filter((a) => a.status === 'failed')
        .map((a) => ({ file: where, test: a.fullName, message: firstLines(a.failureMessages.join('\n')) }));
      return failed.length > 0 || !file.testExecError ? failed : [{ file: where, test: '(suite)', message: firstLines(file.testExecError.message) }];
    });
    writeFileSync(
      join(dir, 'summary.json'),
      JSON.stringify({ passed: results.numPassedTests, failed: results.numFailedTests, skipped: results.numPendingTests + results.numTodoTests, failures }),
    );
  }
}
function firstLines(text) {
  return String(text).split('\n').slice(0, 6).join('\n');
}
module.exports = SummaryReporter;
