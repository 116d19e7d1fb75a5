/**
 * deploy/prometheus: the compose Prometheus config and its alert rules, promtool runs over them,
 * and the same config re-targeted at a local stack for the live checks.
 */
import { repoRoot } from '@grpc-patterns/testing';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PROMTOOL } from './binaries.js';

export const PROMETHEUS_DIR = join(repoRoot, 'deploy', 'prometheus');
export const PROMETHEUS_CONFIG = join(PROMETHEUS_DIR, 'prometheus.yml');
export const ALERT_RULES = join(PROMETHEUS_DIR, 'alerts.yml');
export const ALERT_RULE_TESTS = join(PROMETHEUS_DIR, 'alerts.test.yml');

/** The job that scrapes the five services. */
export const SERVICES_JOB = 'grpc-patterns';

/** What a command printed and how it ended. */
export interface RunResult {
  code: number;
  output: string;
}

/** Runs `promtool <args>` in deploy/prometheus (rule files are relative to it). */
export function promtool(...args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(PROMTOOL.path, args, { cwd: PROMETHEUS_DIR, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

interface StaticConfig {
  targets: string[];
  labels?: Record<string, string>;
}
interface ScrapeConfig {
  job_name: string;
  static_configs?: StaticConfig[];
  [key: string]: unknown;
}
/** The parts of prometheus.yml these tools read or rewrite. */
export interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
  [key: string]: unknown;
}

export function loadPrometheusConfig(path = PROMETHEUS_CONFIG): PrometheusConfig {
  return parse(readFileSync(path, 'utf8')) as PrometheusConfig;
}

/** `service` label -> `host:port` of every target of the services job. */
export function serviceScrapeTargets(config: PrometheusConfig): Map<string, string> {
  const job = config.scrape_configs.find((j) => j.job_name === SERVICES_JOB);
  if (!job) throw new Error(`prometheus.yml has no job ${SERVICES_JOB}`);
  const targets = new Map<string, string>();
  for (const sc of job.static_configs ?? []) {
    const service = sc.labels?.['service'];
    if (!service) throw new Error(`a static_config of ${SERVICES_JOB} has no service label: ${sc.targets.join(', ')}`);
    for (const t of sc.targets) targets.set(service, t);
  }
  return targets;
}

/**
 * The compose config for a local stack: service targets -> `127.0.0.1:<metricsPorts port>`, the `prometheus` job ->
 * `selfAddress`, rule files absolute, intervals `intervalS`; the rest as in deploy/prometheus (the real config).
 * @throws Error when a service of the config has no port in `metricsPorts`.
 */
export function localPrometheusConfig(config: PrometheusConfig, metricsPorts: Map<string, number>, selfAddress: string, intervalS = 1): string {
  const copy = structuredClone(config);
  copy.global = { ...copy.global, scrape_interval: `${intervalS}s`, evaluation_interval: `${intervalS}s` };
  copy.rule_files = (copy.rule_files ?? []).map((f) => join(PROMETHEUS_DIR, f));
  for (const job of copy.scrape_configs) {
    for (const sc of job.static_configs ?? []) {
      if (job.job_name === SERVICES_JOB) {
        const service = sc.labels?.['service'] ?? '';
        const port = metricsPorts.get(service);
        if (port === undefined) throw new Error(`no metrics port for service ${service}`);
        sc.targets = [`127.0.0.1:${port}`];
      } else if (job.job_name === 'prometheus') {
        sc.targets = [selfAddress];
      }
    }
  }
  return stringify(copy);
}
