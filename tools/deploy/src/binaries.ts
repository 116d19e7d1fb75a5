/**
 * The Debian tools the checks run (promtool and prometheus from `prometheus`, kubectl from
 * `kubernetes-client`, python3-matplotlib for the dashboard image). A suite that needs one
 * skips with the reason when it is missing, except under CI=true, where .ci/run installs them
 * and a missing one is a broken set-up: the suite runs and fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A tool and the Debian package that provides it. */
export interface Tool {
  path: string;
  debianPackage: string;
}

export const PROMTOOL: Tool = { path: process.env['PROMTOOL'] ?? '/usr/bin/promtool', debianPackage: 'prometheus' };
export const PROMETHEUS: Tool = { path: process.env['PROMETHEUS'] ?? '/usr/bin/prometheus', debianPackage: 'prometheus' };
/** Debian's Compose 1.29 (`docker-compose config` validates docker-compose.yml without an engine). */
export const DOCKER_COMPOSE: Tool = { path: process.env['DOCKER_COMPOSE'] ?? '/usr/bin/docker-compose', debianPackage: 'docker-compose' };
/** Debian's /usr/bin/python3 (the pyenv python3 on PATH lacks matplotlib). */
export const PYTHON: Tool = { path: '/usr/bin/python3', debianPackage: 'python3-matplotlib' };

/** kubectl: $KUBECTL, else the first on PATH, else /usr/bin/kubectl. */
export const KUBECTL: Tool = { path: process.env['KUBECTL'] ?? whichOr('kubectl', '/usr/bin/kubectl'), debianPackage: 'kubernetes-client' };

function whichOr(name: string, fallback: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || fallback;
  } catch {
    return fallback;
  }
}

/** Why `tools` cannot run here, or undefined when they all exist. */
export function missingTools(tools: Tool[]): string | undefined {
  const missing = tools.filter((t) => !existsSync(t.path));
  if (missing.length === 0) return undefined;
  return `${missing.map((t) => t.path).join(', ')} not found (apt-get install ${[...new Set(missing.map((t) => t.debianPackage))].join(' ')}; .ci/run does)`;
}
