/**
 * Smoke run of `npm run bench`: every scenario for about a second with tiny sizes, into a
 * temporary directory. Checks that the run completes (each scenario checks its own calls'
 * outcomes), that results.json has its shape and that the measured numbers are positive. No
 * timing targets are asserted: the machine is shared and the numbers are not comparable.
 * Needs the built apps (the project's test target depends on their build) and h2load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBench } from './main.js';
import type { BenchResults } from './results.js';

function installed(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasH2load = installed('h2load', ['--version']);
const hasMatplotlib = installed('/usr/bin/python3', ['-c', 'import matplotlib']);
const ci = process.env.CI === 'true';

describe('npm run bench -- --smoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  let results: BenchResults;

  beforeAll(async () => {
    if (!hasH2load && ci) throw new Error('h2load (Debian nghttp2-client) is required under CI=true');
    if (!hasH2load) return;
    results = await runBench({
      mode: 'smoke',
      outDir: dir,
      reportPath: join(dir, 'benchmarks.md'),
      plots: hasMatplotlib || ci,
      // Rate limits in memory (auth's raised by RATE_LIMIT_RPS); PostgreSQL is optional here and never required.
      redisUrl: undefined,
      databaseUrl: undefined,
      log: () => undefined,
    });
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  (hasH2load ? it : it.skip)('writes results.json with a positive number for every measured row', () => {
    const written = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchResults;
    expect(written.mode).toBe('smoke');
    expect(written.machine.cores).toBeGreaterThan(0);
    expect(Object.keys(written.scenarios)).toEqual(expect.arrayContaining(['chain', 'unary', 'server streaming', 'client streaming', 'bidi', 'orders (PGlite)', 'channel reuse']));
    const scenarios = new Set(written.summary.map((row) => row.scenario));
    expect([...scenarios].sort()).toEqual(['bidi', 'chain', 'channel reuse', 'client streaming', 'orders', 'server streaming', 'unary']);
    const skipped = ['orders: PlaceOrder/s on PostgreSQL'];
    for (const row of written.summary) {
      const name = `${row.scenario}: ${row.metric}`;
      if (skipped.includes(name)) {
        expect(row.value).toBeNull();
        continue;
      }
      // RSS deltas and CPU differences can be ~0 or negative with tiny sizes (GC); the rest is > 0.
      if (/RSS|cost per point/.test(row.metric)) expect(typeof row.value).toBe('number');
      else expect({ name, value: row.value }).toEqual({ name, value: expect.any(Number) as number });
      if (!/RSS|cost per point/.test(row.metric)) expect(row.value).toBeGreaterThan(0);
      if (row.baseline !== undefined && row.baseline !== null && !/RSS|CPU/.test(row.metric)) expect(row.baseline).toBeGreaterThan(0);
    }
    expect(results.summary).toEqual(written.summary);
    // The unary chain ran without Redis (auth's limit raised by its variables, every call OK),
    // and so did the profile of auth under that load.
    expect((written.scenarios.unary as { rateLimit: unknown }).rateLimit).toEqual({ store: 'memory', RATE_LIMIT_RPS: '1000000', RATE_LIMIT_BURST: '0' });
    // The chain table: bare, startServer(), one row per layer of the chain, the pass-through
    // layers and the sampled chain, each measured; and a floor per layer.
    const chain = written.scenarios.chain as { table: Array<{ server: string; requestsPerSecond: number; cpuUsPerCall: number; addedUsPerCall: number | null; cpuUsPerMessage: number }>; floors: Array<{ layer: string; usPerCall: number }> };
    expect(chain.table.map((r) => r.server)).toEqual(['bare', 'startServer()', '+ recovery', '+ tracing', '+ metrics', '+ logging', '+ request id', '+ deadline', '+ auth', '+ authz', '+ rate limit', '+ decode limit', '+ validation', 'pass-through layers', 'full, 1% sampled']);
    expect([...new Set(chain.floors.map((f) => f.layer))]).toEqual(['recovery', 'tracing', 'metrics', 'logging', 'request id', 'deadline', 'auth', 'authz', 'rate limit', 'validation']);
    for (const floor of chain.floors) expect(floor.usPerCall).toBeGreaterThanOrEqual(0);
    for (const layer of ['tracing', 'logging']) expect(chain.floors.find((f) => f.layer === layer)?.usPerCall).toBeGreaterThan(0);
    for (const row of chain.table) {
      expect(row.requestsPerSecond).toBeGreaterThan(0);
      expect(row.cpuUsPerCall).toBeGreaterThan(0);
      expect(row.cpuUsPerMessage).toBeGreaterThan(0);
      expect(row.addedUsPerCall === null).toBe(row.server === 'bare');
    }
    const profile = written.scenarios['unary profile'] as { shares: Array<{ component: string; percent: number }> };
    expect(profile.shares.length).toBeGreaterThan(0);
    const total = profile.shares.reduce((sum, s) => sum + s.percent, 0);
    expect(total).toBeGreaterThan(99); // shares rounded to 0.1 each
    expect(total).toBeLessThan(101);
  });

  (hasH2load ? it : it.skip)('writes the Markdown report with the table, machine and commands', () => {
    const report = readFileSync(join(dir, 'benchmarks.md'), 'utf8');
    expect(report).toContain('| scenario | metric | pattern | bare grpc-js | ratio | target | note |');
    expect(report).toContain('## Machine');
    expect(report).toContain('| server | req/s | vs bare | CPU µs/call | adds µs/call | stream msg/s | CPU µs/msg | adds µs/msg |');
    expect(report).toContain('| layer | adds µs/call | floor (work: µs/call) | layer µs | rest µs | tried, and what is left |');
    expect(report).toContain('npm run bench -- --smoke');
    expect(report).toContain('not measured (DATABASE_URL not set)');
    if (hasMatplotlib) for (const png of ['ratios.png', 'chain.png', 'slow-client-rss.png', 'chat.png']) expect(existsSync(join(dir, png))).toBe(true);
  });
});
