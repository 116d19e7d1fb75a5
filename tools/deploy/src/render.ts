/**
 * docs/dashboard.png: the Grafana dashboard drawn from live data. Starts the live set-up (the
 * stack as `npm start` runs it and a Prometheus scraping it every second), runs the tour as
 * traffic, runs every panel query of deploy/grafana/dashboards/grpc-patterns.json as a
 * query_range, and plots the panels in the dashboard's grid with matplotlib
 * (scripts/plot-dashboard.py, Debian python3-matplotlib). No Grafana is involved: the image
 * shows what the dashboard's queries return, laid out as the dashboard lays them out.
 */
import { repoRoot } from '@grpc-patterns/testing';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON } from './binaries.js';
import { runTour, startLiveSetup, waitForScrapesAfter, type LivePrometheus } from './live.js';
import { dashboardPanels, GRAFANA_VALUES, legend, resolveGrafanaVariables, type DashboardPanel } from './queries.js';

/** Options of {@link renderDashboard}. */
export interface RenderOptions {
  /** PNG to write; default docs/dashboard.png. */
  out?: string;
  /** Tours to run as traffic, one after another (default 3). */
  tours?: number;
  /** Pause between tours, ms (default 5000), so the panels show separate bursts. */
  pauseMs?: number;
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
}

/** What was drawn. */
export interface RenderResult {
  out: string;
  /** Series per panel title. */
  series: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Renders the dashboard to a PNG (see the file comment).
 *
 * @throws Error when a tour fails (with its output), a query fails, a panel has no data, or the
 *   plot script fails; the stack and Prometheus are stopped in every case.
 */
export async function renderDashboard(options: RenderOptions = {}): Promise<RenderResult> {
  const out = options.out ?? join(repoRoot, 'docs', 'dashboard.png');
  const tours = options.tours ?? 3;
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  progress('starting the five services (as npm start does, on free ports) and Prometheus (1 s scrapes) ...');
  const setup = await startLiveSetup();
  try {
    const start = Date.now() / 1000 - 15;
    for (let i = 1; i <= tours; i++) {
      progress(`tour ${i}/${tours} ...`);
      const tour = await runTour(setup.stack.targetEnv);
      if (tour.code !== 0) throw new Error(`tour ${i} failed (exit ${tour.code}):\n${tour.output}`);
      if (i < tours) await sleep(options.pauseMs ?? 5_000);
    }
    await sleep(10_000); // the panels' tails: rates falling back after the last burst
    await waitForScrapesAfter(setup.prometheus, Date.now(), setup.stack.services.length);
    const end = Date.now() / 1000;
    const panels = await panelSeries(setup.prometheus, start, end, (title, i, n) => progress(`querying panel ${i}/${n}: ${title}`));
    const when = new Date(start * 1000).toISOString().replace('T', ' ').slice(0, 19);
    progress(`plotting ${panels.length} panels -> ${out}`);
    await plotPanels(
      {
        title: 'grpc-patterns services (deploy/grafana/dashboards/grpc-patterns.json)',
        subtitle: `live Prometheus scraping \`npm start\`'s stack every 1 s, ${tours} tours from ${when} UTC; rate windows ${GRAFANA_VALUES.render.rateInterval}`,
        panels,
      },
      out,
    );
    const series = Object.fromEntries(panels.map((p) => [p.title, p.series.length]));
    return { out, series };
  } finally {
    await setup.stop();
  }
}

/** One panel's data for the plot script: its place in the grid, unit, and series. */
export interface PlotPanel {
  title: string;
  unit: string;
  gridPos: DashboardPanel['gridPos'];
  series: Array<{ name: string; t: number[]; v: Array<number | null> }>;
}

/**
 * Runs every dashboard panel query as a query_range over [startS, endS] (unix s, 1 s step, {@link GRAFANA_VALUES}.render);
 * series named by legendFormat, NaN and ±Inf as gaps (null).
 * @throws Error when a query fails or a panel has no series at all.
 */
export async function panelSeries(prometheus: LivePrometheus, startS: number, endS: number, onPanel?: (title: string, index: number, count: number) => void): Promise<PlotPanel[]> {
  const panels = dashboardPanels();
  const result: PlotPanel[] = [];
  for (const [index, panel] of panels.entries()) {
    onPanel?.(panel.title, index + 1, panels.length);
    const series: PlotPanel['series'] = [];
    for (const q of panel.queries) {
      const ranges = await prometheus.queryRange(resolveGrafanaVariables(q.expr, GRAFANA_VALUES.render), Math.floor(startS), Math.ceil(endS), 1);
      for (const r of ranges) series.push({ name: legend(q.legendFormat, r.metric), t: r.points.map((p) => p[0]), v: r.points.map((p) => (Number.isFinite(p[1]) ? p[1] : null)) });
    }
    if (series.length === 0) throw new Error(`panel "${panel.title}" has no data`);
    result.push({ title: panel.title, unit: panel.unit, gridPos: panel.gridPos, series });
  }
  return result;
}

/**
 * Draws `dashboard` into the PNG `out` with scripts/plot-dashboard.py (Debian /usr/bin/python3
 * with python3-matplotlib).
 *
 * @throws Error with the script's stderr when it fails.
 */
export async function plotPanels(dashboard: { title: string; subtitle: string; panels: PlotPanel[] }, out: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'grpc-patterns-render-'));
  try {
    const data = join(work, 'panels.json');
    writeFileSync(data, JSON.stringify(dashboard));
    await new Promise<void>((resolve, reject) =>
      execFile(PYTHON.path, [join(__dirname, '..', 'scripts', 'plot-dashboard.py'), data, out], { timeout: 120_000 }, (error, _stdout, stderr) =>
        error ? reject(new Error(`plot-dashboard.py failed: ${stderr || error.message}`)) : resolve(),
      ),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
