// Every PromQL query the deployment ships, run against a real Prometheus (Debian `prometheus`)
// scraping the stack as `npm start` starts it, after the tour's traffic: each dashboard panel
// query must return data, and so must each alert rule's base expression (the expression without
// its threshold comparison: on a healthy stack the comparison is empty, as it should be, but
// the series it compares must exist, or the alert could never fire).
import { repoRoot } from '@grpc-patterns/testing';
import { join } from 'node:path';
import { describeWithTools } from '../test/describe-with-tools';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PROMETHEUS, PYTHON } from './binaries';
import { runTour, startLiveSetup, waitForScrapesAfter, type LiveSetup } from './live';
import { panelSeries, plotPanels } from './render';
import { alertRules, dashboardPanels, GRAFANA_VALUES, resolveGrafanaVariables } from './queries';
import { DEPLOY_SERVICES } from './services';

const panels = dashboardPanels();
const queries = panels.flatMap((p) => p.queries.map((q) => ({ name: `${p.title} [${q.refId}]`, expr: resolveGrafanaVariables(q.expr, GRAFANA_VALUES.check) })));
const alerts = alertRules();
const built = [...DEPLOY_SERVICES.map((s) => s.name), 'cli'].every((app) => existsSync(join(repoRoot, 'apps', app, 'dist', 'main.js')));
// Under CI nx builds first; elsewhere a missing build skips with the reason.
const maybe = built || process.env['CI'] === 'true' ? describeWithTools : (name: string) => describe.skip(`${name} (build first: npx nx run-many -t build)`, () => undefined);

maybe('dashboard and alert queries against a live Prometheus scraping the stack', [PROMETHEUS, PYTHON], () => {
  let setup: LiveSetup | undefined;
  let tour: { code: number | null; output: string };
  let trafficStartS = 0;
  const live = (): LiveSetup => {
    if (!setup) throw new Error('the live set-up did not start (see beforeAll)');
    return setup;
  };

  beforeAll(async () => {
    setup = await startLiveSetup();
    trafficStartS = Date.now() / 1000;
    tour = await runTour(setup.stack.targetEnv);
    await waitForScrapesAfter(setup.prometheus, Date.now(), setup.stack.services.length);
  }, 600_000);
  afterAll(async () => {
    const code = await setup?.stop().then(() => 0);
    expect(code).toBe(0);
  }, 120_000);

  it('runs the tour to success as the traffic', () => {
    if (tour.code !== 0) console.error(tour.output);
    expect(tour.code).toBe(0);
  });

  it('has every service of the stack as a Prometheus target, scraped successfully in the last minute', async () => {
    const up = await live().prometheus.query('max_over_time(up{job="grpc-patterns"}[1m])');
    expect(up.map((s) => s.metric['service']).sort()).toEqual(DEPLOY_SERVICES.map((s) => s.name).sort());
    expect(up.every((s) => s.value === 1)).toBe(true);
  });

  it.each(queries)('panel "$name" returns data with a number in it', async ({ expr }) => {
    const result = await live().prometheus.query(expr);
    expect(result.length).toBeGreaterThan(0);
    expect(result.some((s) => Number.isFinite(s.value))).toBe(true);
  });

  it.each(alerts)('alert $alert: its base expression returns data', async ({ base }) => {
    const result = await live().prometheus.query(base);
    expect(result.length).toBeGreaterThan(0);
  });

  it('draws every panel from its query_range data (the docs/dashboard.png pipeline)', async () => {
    const panels = await panelSeries(live().prometheus, trafficStartS - 5, Date.now() / 1000);
    expect(panels.map((p) => p.title)).toEqual(dashboardPanels().map((p) => p.title));
    for (const p of panels) expect(p.series.some((s) => s.v.some((v) => v !== null))).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-'));
    try {
      await plotPanels({ title: 'test', subtitle: 'live.spec.ts', panels }, join(dir, 'dashboard.png'));
      // A PNG: its 8-byte signature.
      expect(readFileSync(join(dir, 'dashboard.png')).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds no data for a misspelt metric (the check can fail)', async () => {
    expect(await live().prometheus.query('sum by (service) (rate(grpc_server_handled_totl{job="grpc-patterns"}[1m]))')).toEqual([]);
  });

  it('loaded every alert rule and evaluates each without error', async () => {
    const response = await fetch(`${live().prometheus.url}/api/v1/rules?type=alert`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(alerts.map((a) => a.alert).sort());
    for (const r of rules) expect({ name: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ name: r.name, health: 'ok', lastError: '' });
  });
});
