import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sourceFiles } from '../test/source-files';
import { publicMethodPaths, SERVICE_NAMES, serviceManifest, SERVICES, servicePathPatterns, targetVariable } from './index';

const protoOf = (name: string) => join(repoRoot, 'proto', name, 'v1', `${name}.proto`);

describe('the service manifest', () => {
  it('names each service once, with its own ports, a proto file and a full name from it', () => {
    expect(new Set(SERVICE_NAMES).size).toBe(SERVICES.length);
    const ports = SERVICES.flatMap((s) => [s.grpcPort, s.metricsPort]);
    expect(new Set(ports).size).toBe(ports.length);
    for (const s of SERVICES) {
      expect(s.name).toMatch(/^[a-z]+$/);
      expect(existsSync(protoOf(s.name))).toBe(true);
      const proto = readFileSync(protoOf(s.name), 'utf8');
      const pkg = /^package\s+([\w.]+);/m.exec(proto)?.[1];
      const service = s.fullName.slice((pkg ?? '').length + 1);
      expect(s.fullName).toBe(`${pkg}.${service}`);
      expect(proto).toMatch(new RegExp(`^service ${service} \\{`, 'm'));
    }
  });

  it('lists as public only methods its proto defines, and depends only on known services, without cycles', () => {
    for (const s of SERVICES) {
      const proto = readFileSync(protoOf(s.name), 'utf8');
      for (const m of s.publicMethods) expect(proto).toMatch(new RegExp(`\\brpc ${m}\\(`));
      for (const d of s.dependsOn) expect(SERVICE_NAMES).toContain(d);
    }
    const visit = (name: string, path: string[]): void => {
      expect(path).not.toContain(name);
      for (const d of serviceManifest(name).dependsOn) visit(d, [...path, name]);
    };
    for (const name of SERVICE_NAMES) visit(name, []);
  });

  it('derives paths, patterns and variables from the entries', () => {
    expect(publicMethodPaths()).toEqual(['/auth.v1.AuthService/Login', '/auth.v1.AuthService/Register', '/auth.v1.AuthService/Refresh', '/auth.v1.AuthService/GetPublicKeys']);
    expect(servicePathPatterns()).toContain('/orders.v1.OrderService/*');
    expect(targetVariable('orders')).toBe('ORDERS_TARGET');
    expect(() => serviceManifest('nosuch')).toThrow(`unknown service "nosuch": one of ${SERVICE_NAMES.join(', ')}`);
  });
});

/**
 * Files that mention every service on purpose, and why that is not a second list to keep in step:
 * per-service code (each entry does something different), or a file a test checks against the
 * manifest.
 */
const PER_SERVICE_CODE: Record<string, string> = {
  'apps/cli/src/tour.ts': 'one tour step per service, each calling that service its own way',
  'deploy/prometheus/prometheus.yml': 'checked against the manifest by tools/deploy/src/compose.spec.ts',
  'tools/interop/go/interop.go': 'the grpc-go peer: an interop case per method, typed stubs per service',
  'tools/interop/python/interop_client.py': 'the C-core peer: an interop case per method',
};

/** Lines i..i+7 of `lines` that name at least `min` services as strings, paths or keys. */
function listsServices(lines: string[], min: number): number[] {
  const hits: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const window = lines.slice(i, i + 8).join('\n');
    const named = SERVICE_NAMES.filter((n) => new RegExp(`['"\`/]${n}(\\.v1\\.|['"\`/])|\\b${n.toUpperCase()}_TARGET\\b|^\\s*${n}:`, 'm').test(window));
    if (named.length >= min) {
      hits.push(i + 1);
      i += 7;
    }
  }
  return hits;
}

describe('no second list of the services', () => {
  it('no source file outside the manifest, the generated code and the tests lists four or more services', () => {
    const files = sourceFiles(/\.(ts|mjs|cjs|js|json|ya?ml|go|py)$|Dockerfile$/).filter((f) => !f.startsWith('libs/manifest/') && !f.endsWith('package-lock.json') && !(f in PER_SERVICE_CODE));
    const found = files.flatMap((f) => listsServices(readFileSync(join(repoRoot, f), 'utf8').split('\n'), 4).map((line) => `${f}:${line}`));
    expect(found).toEqual([]);
  });

  it('the scan finds a hand-written list (so the check above can fail)', () => {
    expect(listsServices(["const names = ['auth', 'analytics',", "  'metrics', 'chat'];"], 4)).toEqual([1]);
    expect(listsServices(['AUTH_TARGET=a', 'ANALYTICS_TARGET=b', 'CHAT_TARGET=c', 'ORDERS_TARGET=d'], 4)).toEqual([1]);
    expect(listsServices(["import { SERVICES } from '@grpc-patterns/manifest';"], 4)).toEqual([]);
  });
});
