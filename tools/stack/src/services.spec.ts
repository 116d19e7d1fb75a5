// --replicas parsing, the static ipv4: target lists, and the discovery environment per instance.
import { exportLines, parseReplicas, serviceEnv, STACK, startWaves, staticTargets, tlsVariables, type StackInstance } from './services';

const orders = STACK.find((s) => s.name === 'orders') as (typeof STACK)[number];
const auth = STACK.find((s) => s.name === 'auth') as (typeof STACK)[number];

describe('parseReplicas', () => {
  it('defaults every service to 1 and reads service=count', () => {
    const counts = parseReplicas(['analytics=3', 'metrics=2']);
    expect(Object.fromEntries(counts)).toEqual({ auth: 1, analytics: 3, metrics: 2, chat: 1, orders: 1 });
  });
  it('refuses replicas of services whose state lives in one process, saying what would break', () => {
    expect(() => parseReplicas(['orders=3'], STACK, {})).toThrow('--replicas orders=3: orders cannot run as several replicas yet: orders and idempotency keys live in its own PGlite data dir, so a retry on another replica would place a second order');
    expect(() => parseReplicas(['chat=2'], STACK, {})).toThrow('--replicas chat=2: chat cannot run as several replicas yet');
    expect(() => parseReplicas(['auth=2'], STACK, {})).toThrow('--replicas auth=2: auth cannot run as several replicas yet');
    expect(Object.fromEntries(parseReplicas(['orders=1']))).toMatchObject({ orders: 1 });
  });
  it('allows orders replicas when DATABASE_URL is set (one shared PostgreSQL), and only orders', () => {
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };
    expect(Object.fromEntries(parseReplicas(['orders=3'], STACK, env))).toMatchObject({ orders: 3 });
    expect(() => parseReplicas(['chat=2'], STACK, env)).toThrow('--replicas chat=2: chat cannot run as several replicas yet');
    expect(() => parseReplicas(['auth=2'], STACK, env)).toThrow('--replicas auth=2: auth cannot run as several replicas yet');
    expect(() => parseReplicas(['orders=3'], STACK, { DATABASE_URL: '' })).toThrow('orders cannot run as several replicas yet');
  });
  it('rejects unknown services and counts outside 1..9, naming the entry', () => {
    expect(() => parseReplicas(['billing=2'])).toThrow('--replicas billing=2: want <service>=<1..9> with service one of auth, analytics, metrics, chat, orders');
    expect(() => parseReplicas(['metrics=0'])).toThrow('--replicas metrics=0');
    expect(() => parseReplicas(['metrics=10'])).toThrow('--replicas metrics=10');
  });
});

describe('staticTargets and serviceEnv', () => {
  const instances: StackInstance[] = [
    { service: auth, index: 1, label: 'auth', grpc: 50051, metrics: 9101 },
    { service: orders, index: 1, label: 'orders', grpc: 50055, metrics: 9105 },
    { service: orders, index: 2, label: 'orders#2', grpc: 41000, metrics: 42000 },
  ];
  it('lists every replica in one ipv4: target', () => {
    expect(Object.fromEntries(staticTargets(instances))).toEqual({ auth: 'ipv4:127.0.0.1:50051', orders: 'ipv4:127.0.0.1:50055,127.0.0.1:41000' });
  });
  it('gives each replica its own ports and data dir, and etcd registration when endpoints are given', () => {
    const env = serviceEnv(instances[2], staticTargets(instances), '/data', 'http://127.0.0.1:2379', {});
    expect(env).toEqual({
      GRPC_PORT: '41000',
      METRICS_PORT: '42000',
      DATA_DIR: '/data/orders-2',
      AUTH_TARGET: 'ipv4:127.0.0.1:50051',
      ORDERS_TARGET: 'ipv4:127.0.0.1:50055,127.0.0.1:41000',
      DISCOVERY: 'etcd',
      ETCD_ENDPOINTS: 'http://127.0.0.1:2379',
      ...tlsVariables({ mode: 'off' }, 'orders'),
    });
    expect(serviceEnv(instances[1], staticTargets(instances), '/data', undefined, {})).not.toHaveProperty('DISCOVERY');
    expect(serviceEnv(instances[1], staticTargets(instances), '/data', undefined, {}).DATA_DIR).toBe('/data/orders');
  });
  it('passes DATABASE_URL to every orders instance, and to no other service', () => {
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders' };
    const targets = staticTargets(instances);
    expect(serviceEnv(instances[1], targets, '/data', undefined, env).DATABASE_URL).toBe(env.DATABASE_URL);
    expect(serviceEnv(instances[2], targets, '/data', undefined, env).DATABASE_URL).toBe(env.DATABASE_URL);
    expect(serviceEnv(instances[0], targets, '/data', undefined, env)).not.toHaveProperty('DATABASE_URL');
    expect(serviceEnv(instances[1], targets, '/data', undefined, {})).not.toHaveProperty('DATABASE_URL');
  });
});

describe('tlsVariables', () => {
  it('gives each service its own certificate, the tour the client one, and blanks them when off', () => {
    expect(tlsVariables({ mode: 'mtls', dir: '/c' }, 'orders')).toEqual({ TLS_MODE: 'mtls', TLS_CA_FILE: '/c/ca.crt', TLS_CERT_FILE: '/c/orders.crt', TLS_KEY_FILE: '/c/orders.key' });
    expect(tlsVariables({ mode: 'mtls', dir: '/c' }, 'client')).toMatchObject({ TLS_CERT_FILE: '/c/client.crt', TLS_KEY_FILE: '/c/client.key' });
    // tls: servers still present theirs; the tour needs only the CA.
    expect(tlsVariables({ mode: 'tls', dir: '/c' }, 'auth')).toMatchObject({ TLS_MODE: 'tls', TLS_CERT_FILE: '/c/auth.crt' });
    expect(tlsVariables({ mode: 'tls', dir: '/c' }, 'client')).toEqual({ TLS_MODE: 'tls', TLS_CA_FILE: '/c/ca.crt', TLS_CERT_FILE: '', TLS_KEY_FILE: '' });
    expect(tlsVariables({ mode: 'off' }, 'auth')).toEqual({ TLS_MODE: 'off', TLS_CERT_FILE: '', TLS_KEY_FILE: '', TLS_CA_FILE: '' });
  });

  it('is part of every instance environment', () => {
    const instance: StackInstance = { service: auth, index: 1, label: 'auth', grpc: 1, metrics: 2 };
    expect(serviceEnv(instance, new Map(), '/data', undefined, {}, { mode: 'mtls', dir: '/c' })).toMatchObject({ TLS_MODE: 'mtls', TLS_CERT_FILE: '/c/auth.crt' });
    expect(serviceEnv(instance, new Map(), '/data', undefined, {})).toMatchObject({ TLS_MODE: 'off' });
  });
});

describe('exportLines and startWaves', () => {
  const analytics = STACK.find((s) => s.name === 'analytics') as (typeof STACK)[number];
  it('prints an export per target, and the client TLS variables when TLS is on', () => {
    const targets = new Map([
      ['auth', 'ipv4:127.0.0.1:40001'],
      ['analytics', 'ipv4:127.0.0.1:40002,127.0.0.1:40003'],
    ]);
    expect(exportLines(targets, { mode: 'off' })).toEqual(['export AUTH_TARGET=ipv4:127.0.0.1:40001', 'export ANALYTICS_TARGET=ipv4:127.0.0.1:40002,127.0.0.1:40003']);
    expect(exportLines(new Map(), { mode: 'mtls', dir: "/tmp/my certs" })).toEqual([
      'export TLS_MODE=mtls',
      "export TLS_CA_FILE='/tmp/my certs/ca.crt'",
      "export TLS_CERT_FILE='/tmp/my certs/client.crt'",
      "export TLS_KEY_FILE='/tmp/my certs/client.key'",
    ]);
    expect(exportLines(new Map(), { mode: 'tls', dir: '/c' })).toEqual(['export TLS_MODE=tls', 'export TLS_CA_FILE=/c/ca.crt']);
  });
  it('starts auth first only when its port comes from the OS', () => {
    const i = (service: (typeof STACK)[number], grpc: number): StackInstance => ({ service, index: 1, label: service.name, grpc, metrics: 0 });
    const fixed = [i(auth, 50051), i(analytics, 0), i(orders, 50055)];
    expect(startWaves(fixed)).toEqual([fixed]);
    const free = [i(auth, 0), i(analytics, 0), i(orders, 0)];
    expect(startWaves(free).map((w) => w.map((x) => x.label))).toEqual([['auth'], ['analytics', 'orders']]);
    expect(startWaves([i(analytics, 0)]).map((w) => w.map((x) => x.label))).toEqual([['analytics']]);
  });
});
