/**
 * deploy/k8s: rendered with `kubectl kustomize` (Debian kubernetes-client) and read back, so the
 * checks see exactly what `kubectl apply -k deploy/k8s` would send, ConfigMap hash suffixes and
 * the namespace included.
 */
import { repoRoot } from '@grpc-patterns/testing';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KUBECTL } from './binaries.js';
import type { Environment } from './env-check.js';

export const K8S_DIR = join(repoRoot, 'deploy', 'k8s');

/** A Kubernetes object, as far as these checks read it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

/** The container fields the checks read. */
export interface K8sContainer {
  name: string;
  image: string;
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom?: Array<{ configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }>;
  [key: string]: unknown;
}

/**
 * `kubectl kustomize <dir>` parsed into objects.
 *
 * @throws Error with kubectl's stderr when it fails (bad kustomization, missing resource).
 */
export function renderKustomize(dir = K8S_DIR): Promise<K8sObject[]> {
  return new Promise((resolve, reject) => {
    execFile(KUBECTL.path, ['kustomize', dir], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`kubectl kustomize ${dir} failed: ${stderr.trim() || error.message}`));
        return;
      }
      resolve(parseAllDocuments(stdout).map((d) => d.toJSON() as K8sObject));
    });
  });
}

/** The pod template's containers of a Deployment. */
export function containersOf(deployment: K8sObject): K8sContainer[] {
  const template = deployment.spec?.['template'] as { spec?: { containers?: K8sContainer[] } } | undefined;
  return template?.spec?.containers ?? [];
}

/**
 * A container's environment as the kubelet builds it: `envFrom` ConfigMaps and Secrets in order, then `env` (wins); a
 * missing optional source is skipped, and `problems` lists a missing required source and every `valueFrom`.
 */
export function containerEnvironment(objects: K8sObject[], container: K8sContainer): { env: Environment; problems: string[] } {
  const env: Environment = {};
  const problems: string[] = [];
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    if (!ref) continue;
    const found = objects.find((o) => o.kind === kind && o.metadata.name === ref.name);
    if (!found) {
      if (!ref.optional) problems.push(`${container.name}: envFrom ${kind} ${ref.name} is not in the rendered manifests`);
      continue;
    }
    const data = kind === 'Secret' ? Object.fromEntries(Object.entries(found.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : (found.data ?? {});
    Object.assign(env, found['stringData'] ?? {}, data);
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom !== undefined) problems.push(`${container.name}: ${e.name} uses valueFrom; its value cannot be checked`);
    else env[e.name] = e.value ?? '';
  }
  return { env, problems };
}
