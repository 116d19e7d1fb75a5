// --replicas parsing, the static ipv4: target lists, and the discovery environment per instance.
import { parseReplicas, serviceEnv, STACK, staticTargets, type StackInstance } from './services';

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
