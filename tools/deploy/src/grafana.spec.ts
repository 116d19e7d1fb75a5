// deploy/grafana as docker-compose.yml mounts it: the provisioned data sources are the ones the
// dashboard names, the dashboard provider reads the folder compose mounts, and the home
// dashboard path points at the dashboard file. (Its queries are run for real in live.spec.ts.)
import { repoRoot } from '@grpc-patterns/testing';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadCompose } from './compose';
import { composeEnvironment } from './env-check';
import { DASHBOARD_FILE, dashboardPanels } from './queries';

const grafanaDir = join(repoRoot, 'deploy', 'grafana');
const grafana = loadCompose().services['grafana'];
const mounts = new Map((grafana.volumes as string[]).map((v) => v.split(':')).map(([host, container]) => [container, host]));
const datasources = (parse(readFileSync(join(grafanaDir, 'provisioning', 'datasources', 'datasources.yml'), 'utf8')) as { datasources: Array<{ uid: string; type: string; url: string }> }).datasources;
const providers = (parse(readFileSync(join(grafanaDir, 'provisioning', 'dashboards', 'dashboards.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }).providers;
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { uid: string; panels: Array<{ title: string; datasource: { type: string; uid: string }; targets: Array<{ datasource: { uid: string } }> }> };

/** The host path behind a container path, through the compose bind mounts. */
function hostPath(containerPath: string): string | undefined {
  for (const [container, host] of mounts) {
    if (containerPath === container || containerPath.startsWith(`${container}/`)) return join(repoRoot, host, containerPath.slice(container.length));
  }
  return undefined;
}

describe('deploy/grafana as docker-compose.yml provisions it', () => {
  it('mounts the provisioning folder and the dashboards folder from deploy/grafana', () => {
    expect(mounts.get('/etc/grafana/provisioning')).toBe('./deploy/grafana/provisioning');
    expect(providers.map((p) => hostPath(p.options.path))).toEqual([join(repoRoot, 'deploy', 'grafana', 'dashboards')]);
  });

  it('provisions Prometheus and Jaeger at their compose addresses', () => {
    expect(datasources.map((d) => [d.uid, d.type, d.url])).toEqual([
      ['prometheus', 'prometheus', 'http://prometheus:9090'],
      ['jaeger', 'jaeger', 'http://jaeger:16686'],
    ]);
  });

  it('opens the dashboard file as the home dashboard', () => {
    const home = composeEnvironment(grafana.environment)['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'];
    const file = hostPath(home);
    expect(file).toBe(DASHBOARD_FILE);
    expect(existsSync(file ?? '')).toBe(true);
  });

  it('queries only the provisioned Prometheus, from every panel, each with a unique id', () => {
    const uids = new Set(dashboard.panels.flatMap((p) => [p.datasource.uid, ...p.targets.map((t) => t.datasource.uid)]));
    expect([...uids]).toEqual(['prometheus']);
    const ids = dashboardPanels().map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('covers what the issue asks for: RPS, errors by code, p50/p95/p99 per method, stream message rates, open streams, event-loop lag', () => {
    const exprs = dashboardPanels().flatMap((p) => p.queries.map((q) => q.expr));
    expect(exprs.some((e) => e.includes('rate(grpc_server_started_total'))).toBe(true);
    expect(exprs.some((e) => /sum by \(grpc_code\) \(rate\(grpc_server_handled_total/.test(e))).toBe(true);
    for (const q of ['0.5', '0.95', '0.99']) expect(exprs.some((e) => e.startsWith(`histogram_quantile(${q}, sum by (grpc_service, grpc_method, le)`))).toBe(true);
    expect(exprs.some((e) => e.includes('rate(grpc_server_msg_sent_total'))).toBe(true);
    expect(exprs.some((e) => e.includes('rate(grpc_server_msg_received_total'))).toBe(true);
    expect(exprs.some((e) => e.includes('grpc_server_started_total') && e.includes(' - ') && e.includes('grpc_server_handled_total'))).toBe(true);
    expect(exprs.some((e) => e.includes('nodejs_eventloop_lag_p99_seconds'))).toBe(true);
  });
});
