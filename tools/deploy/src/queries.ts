/**
 * Every PromQL query the deployment ships: the Grafana dashboard's panel targets and the alert
 * rules' expressions, in the form the live checks run them.
 */
import { repoRoot } from '@grpc-patterns/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ALERT_RULES } from './prometheus.js';

export const DASHBOARD_FILE = join(repoRoot, 'deploy', 'grafana', 'dashboards', 'grpc-patterns.json');

/** One query of a dashboard panel. */
export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
  legendFormat: string;
}

/** A dashboard panel with its grid position (Grafana's 24-column grid) and unit. */
export interface DashboardPanel {
  id: number;
  title: string;
  type: string;
  unit: string;
  gridPos: { x: number; y: number; w: number; h: number };
  queries: PanelQuery[];
}

interface RawPanel {
  id: number;
  title: string;
  type: string;
  gridPos: DashboardPanel['gridPos'];
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Array<{ refId: string; expr?: string; legendFormat?: string }>;
  panels?: RawPanel[];
}

/** The dashboard's panels (rows flattened) with their queries. @throws Error for a panel without a PromQL query. */
export function dashboardPanels(path = DASHBOARD_FILE): DashboardPanel[] {
  const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: RawPanel[] };
  const flat = dashboard.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
  return flat.map((p) => {
    const queries = (p.targets ?? []).map((t) => {
      if (!t.expr) throw new Error(`panel "${p.title}" target ${t.refId} has no expr`);
      return { panel: p.title, refId: t.refId, expr: t.expr, legendFormat: t.legendFormat ?? '' };
    });
    if (queries.length === 0) throw new Error(`panel "${p.title}" has no query`);
    return { id: p.id, title: p.title, type: p.type, unit: p.fieldConfig?.defaults?.unit ?? 'short', gridPos: p.gridPos, queries };
  });
}

/**
 * Replaces `$__rate_interval` (Grafana: max($__interval + scrape interval, 4 x scrape interval)), `$__interval` and
 * `$__range` with `values`, as Grafana does before sending a query (Grafana docs, "Global variables").
 * @throws Error when any other `$variable` is left (the dashboard defines no template variables).
 */
export function resolveGrafanaVariables(expr: string, values: { rateInterval: string; interval: string; range: string }): string {
  const resolved = expr
    .replaceAll('$__rate_interval', values.rateInterval)
    .replaceAll('${__rate_interval}', values.rateInterval)
    .replaceAll('$__interval', values.interval)
    .replaceAll('$__range', values.range);
  const left = /\$\{?\w+/.exec(resolved);
  if (left) throw new Error(`unresolved Grafana variable ${left[0]} in ${expr}`);
  return resolved;
}

/** Values of the Grafana variables the checks and the image use (the stack is scraped every 1 s). */
export const GRAFANA_VALUES = {
  /** Instant checks right after the tour: a 1 m window holds the whole tour's traffic. */
  check: { rateInterval: '1m', interval: '1s', range: '5m' },
  /** The image: 15 s windows (= 4 x Grafana's minimum for a 1 s scrape with a 15 s margin) show the traffic's shape. */
  render: { rateInterval: '15s', interval: '1s', range: '5m' },
} as const;

/**
 * A series' legend as Grafana draws it: `{{label}}` replaced by the label's value
 * (`{{grpc_service}}/{{grpc_method}}` -> `auth.v1.AuthService/Login`); empty format: all labels.
 */
export function legend(format: string, metric: Record<string, string>): string {
  if (format === '') return `{${Object.entries(metric).map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => metric[name] ?? '');
}

/** One alerting rule. */
export interface AlertRule {
  alert: string;
  expr: string;
  /** The expression without its final threshold comparison (`up == 0` -> `up`). */
  base: string;
}

/** A trailing `> 0.05`, `== 0`, `>= bool 1` ...: the threshold of an alert expression. */
const THRESHOLD = /\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * The base of an alert written `<base> <op> <number>`, which the live check shows has data (docs/deploy.md
 * "Dashboard and alerts").
 * @throws Error when `expr` does not end in such a comparison.
 */
export function alertBase(expr: string): string {
  const trimmed = expr.trim();
  if (!THRESHOLD.test(trimmed)) throw new Error(`alert expression does not end in "<op> <number>": ${trimmed}`);
  return trimmed.replace(THRESHOLD, '').trim();
}

/** Every alerting rule of deploy/prometheus/alerts.yml (recording rules are left out). */
export function alertRules(path = ALERT_RULES): AlertRule[] {
  const doc = parse(readFileSync(path, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => ({ alert: r.alert as string, expr: r.expr.trim(), base: alertBase(r.expr) })));
}
