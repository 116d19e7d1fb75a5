// The Consul resolver and registrar against test/fake-consul.ts, an in-test agent that
// implements the documented HTTP endpoints (paths, query parameters, bodies, X-Consul-Index
// blocking semantics) and runs the registered gRPC health check for real. No live Consul.
import { experimental } from '@grpc/grpc-js';
import type { TestServer } from '@grpc-patterns/testing';
import { FakeConsul } from '../test/fake-consul';
import { eventually, startReplica, waitForExactly, WHO_SERVICE, whoClient, type WhoClient } from '../test/who';
import { ConsulRegistrar, ConsulResolver, ENDPOINT_METADATA_ATTRIBUTE, instancesFromHealth, nextConsulIndex, parseConsulTarget, registerConsulResolver } from './index';

describe('Consul helpers', () => {
  it('parses consul://agent/service?tag=&dc=', () => {
    expect(parseConsulTarget({ scheme: 'consul', authority: '10.0.0.2:8500', path: 'orders?tag=blue&tag=eu&dc=dc2' })).toEqual({ baseUrl: 'http://10.0.0.2:8500', service: 'orders', tags: ['blue', 'eu'], dc: 'dc2' });
    expect(parseConsulTarget({ scheme: 'consul', authority: '', path: 'orders' }, 'https://consul.internal:8501/')).toEqual({ baseUrl: 'https://consul.internal:8501', service: 'orders', tags: [] });
    expect(() => parseConsulTarget({ scheme: 'consul', authority: 'x:1', path: '?dc=a' })).toThrow('names no service');
  });

  it('follows the blocking-query index rules: backwards resets to 0, below 1 becomes 1', () => {
    expect(nextConsulIndex(0, '42')).toBe(42);
    expect(nextConsulIndex(42, '43')).toBe(43);
    expect(nextConsulIndex(42, '42')).toBe(42);
    expect(nextConsulIndex(42, '7')).toBe(0);
    expect(nextConsulIndex(0, '0')).toBe(1);
    expect(nextConsulIndex(5, null)).toBe(0);
  });

  it('uses Service.Address, falling back to Node.Address, and keeps Meta and tags', () => {
    expect(
      instancesFromHealth([
        { Node: { Address: '10.0.0.9' }, Service: { ID: 'a', Service: 's', Address: '', Port: 7000, Tags: ['blue'], Meta: { version: 'v2' } } },
        { Node: { Address: '10.0.0.9' }, Service: { ID: 'b', Service: 's', Address: '10.0.0.5', Port: 7001, Tags: null, Meta: null } },
        { Node: { Address: '10.0.0.9' }, Service: { ID: 'c', Service: 's', Address: '10.0.0.5', Port: 0 } },
      ]),
    ).toEqual([
      { host: '10.0.0.9', port: 7000, metadata: { version: 'v2', tags: 'blue' } },
      { host: '10.0.0.5', port: 7001, metadata: {} },
    ]);
  });
});

describe('Consul discovery (in-test agent)', () => {
  let consul: FakeConsul;
  const replicas: TestServer[] = [];
  const clients: WhoClient[] = [];
  const registrars: ConsulRegistrar[] = [];

  const replica = async (id: string) => {
    const r = await startReplica(id);
    replicas.push(r);
    return r;
  };
  const register = async (service: string, r: TestServer, meta: Record<string, string> = { version: 'v1' }) => {
    const registrar = new ConsulRegistrar({ service, address: consul.address, meta, healthService: WHO_SERVICE, checkIntervalSeconds: 1 });
    registrars.push(registrar);
    await registrar.register({ host: '127.0.0.1', port: r.running.port });
    return registrar;
  };
  const client = (target: string) => {
    const c = whoClient(target);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    consul = await new FakeConsul().start();
    registerConsulResolver({ waitSeconds: 2, minIntervalMs: 10, backoffInitialMs: 100, backoffMaxMs: 800 });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(registrars.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(replicas.map((r) => r.close()));
    await consul.stop();
  });

  it('registers with a native gRPC check, Meta version and DeregisterCriticalServiceAfter; deregisters', async () => {
    const r = await replica('reg-1');
    const registrar = await register('reg', r, { version: 'v3' });
    const put = consul.requests.find((q) => q.path === '/v1/agent/service/register');
    expect(put?.method).toBe('PUT');
    expect(put?.query.get('replace-existing-checks')).toBe('true');
    expect(put?.body).toEqual({
      ID: `reg-127.0.0.1-${r.running.port}`,
      Name: 'reg',
      Address: '127.0.0.1',
      Port: r.running.port,
      Meta: { version: 'v3' },
      Check: {
        Name: 'gRPC health of reg',
        GRPC: `127.0.0.1:${r.running.port}/${WHO_SERVICE}`,
        GRPCUseTLS: false,
        Interval: '1s',
        Timeout: '2s',
        DeregisterCriticalServiceAfter: '60s',
      },
    });
    // The agent's gRPC check reaches the replica's grpc.health.v1 and finds it SERVING.
    await eventually(() => consul.status()[`reg-127.0.0.1-${r.running.port}`] === 'passing', 3_000, 'the gRPC check to pass');
    await registrar.deregister();
    expect(consul.requests.at(-1)).toMatchObject({ method: 'PUT', path: `/v1/agent/service/deregister/reg-127.0.0.1-${r.running.port}` });
    expect(consul.status()).not.toHaveProperty(`reg-127.0.0.1-${r.running.port}`);
    const count = consul.requests.length;
    await registrar.deregister(); // idempotent: nothing registered, no request
    expect(consul.requests).toHaveLength(count);
  });

  it('resolves with passing/tag/dc, blocks with index+wait, sorts, and is silent after destroy()', async () => {
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'r-2', Service: 'res', Address: '', Port: 3002, Tags: ['blue'], Meta: { version: 'v2' } } });
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'r-1', Service: 'res', Address: '127.0.0.1', Port: 3001, Tags: ['blue'], Meta: { version: 'v1' } } });
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'r-3', Service: 'res', Address: '127.0.0.1', Port: 3003, Tags: ['green'] } });
    const reports: Array<{ endpoints: string[]; metadata: unknown }> = [];
    const resolver = new ConsulResolver(
      { scheme: 'consul', authority: consul.address, path: 'res?tag=blue&dc=dc1' },
      (endpoints, attributes) => {
        reports.push({ endpoints: endpoints.ok ? endpoints.value.map((e) => experimental.subchannelAddressToString(e.addresses[0])) : ['error'], metadata: attributes[ENDPOINT_METADATA_ATTRIBUTE] });
        return true;
      },
      {},
    );
    resolver.updateResolution();
    expect(reports).toHaveLength(0); // never synchronously
    await eventually(() => reports.length === 1, 3_000, 'first resolution');
    expect(reports[0]).toEqual({ endpoints: ['127.0.0.1:3001', '127.0.0.1:3002'], metadata: { '127.0.0.1:3001': { version: 'v1', tags: 'blue' }, '127.0.0.1:3002': { version: 'v2', tags: 'blue' } } });
    await eventually(() => consul.healthQueries('res').length >= 2, 3_000, 'a blocking query');
    const [first, second] = consul.healthQueries('res');
    expect(first.path).toBe('/v1/health/service/res');
    expect(Object.fromEntries(first.query)).toEqual({ passing: 'true', tag: 'blue', dc: 'dc1' });
    expect(Object.fromEntries(second.query)).toEqual({ passing: 'true', tag: 'blue', dc: 'dc1', index: String(consul.currentIndex), wait: '2s' });

    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'r-0', Service: 'res', Address: '127.0.0.1', Port: 3000, Tags: ['blue'] } });
    await eventually(() => reports.length === 2, 2_000, 'the blocked query to return the change');
    expect(reports[1].endpoints).toEqual(['127.0.0.1:3000', '127.0.0.1:3001', '127.0.0.1:3002']);
    // A change to another service wakes the query, but the list is unchanged: no report.
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'other', Service: 'other', Address: '127.0.0.1', Port: 4000 } });
    await new Promise((r) => setTimeout(r, 300));
    expect(reports).toHaveLength(2);

    resolver.destroy();
    const after = consul.healthQueries('res').length;
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'r-9', Service: 'res', Address: '127.0.0.1', Port: 3009, Tags: ['blue'] } });
    await new Promise((r) => setTimeout(r, 400));
    expect(reports).toHaveLength(2);
    expect(consul.healthQueries('res').length).toBe(after);
  });

  it('a client on consul:// follows registration, a failing health check and deregistration within seconds', async () => {
    const [a, b, c] = [await replica('c-a'), await replica('c-b'), await replica('c-c')];
    await register('members', a);
    const rb = await register('members', b);
    const ch = client(`consul://${consul.address}/members`);
    await waitForExactly(ch, ['c-a', 'c-b']);
    await rb.deregister();
    const leftMs = await waitForExactly(ch, ['c-a']);
    await register('members', c);
    const joinedMs = await waitForExactly(ch, ['c-a', 'c-c']);
    // NOT_SERVING -> the agent's gRPC check goes critical -> out of passing=true results.
    c.running.health.setStatus(WHO_SERVICE, 'NOT_SERVING');
    const criticalMs = await waitForExactly(ch, ['c-a'], 5_000);
    console.log(`consul membership: deregistration followed in ${leftMs} ms, new replica got traffic after ${joinedMs} ms (check interval 1 s), NOT_SERVING out after ${criticalMs} ms`);
    expect(leftMs).toBeLessThan(2_000);
    expect(joinedMs).toBeLessThan(2_500);
  });

  it('an X-Consul-Index that goes backwards triggers a full read (no index)', async () => {
    const reports: number[] = [];
    const resolver = new ConsulResolver({ scheme: 'consul', authority: consul.address, path: 'backwards' }, () => reports.push(Date.now()) > 0, {});
    resolver.updateResolution();
    await eventually(() => consul.healthQueries('backwards').length >= 2, 3_000, 'a blocking query');
    consul.setIndex(3); // e.g. a snapshot restore
    await eventually(() => consul.healthQueries('backwards').length >= 4, 3_000, 'queries after the reset');
    const queries = consul.healthQueries('backwards').map((q) => q.query.get('index'));
    resolver.destroy();
    // full read, blocking at N, (index went to 3) full read, blocking at 3
    expect(queries.slice(0, 4)).toEqual([null, expect.any(String), null, '3']);
  });

  it('backs off with jitter on errors, reports UNAVAILABLE, and recovers', async () => {
    consul.add({ Node: { Address: '127.0.0.1' }, Service: { ID: 'e-1', Service: 'errs', Address: '127.0.0.1', Port: 5001 } });
    const reports: string[] = [];
    const resolver = new ConsulResolver(
      { scheme: 'consul', authority: consul.address, path: 'errs' },
      (endpoints) => reports.push(endpoints.ok ? `ok ${endpoints.value.length}` : `${endpoints.error.code} ${endpoints.error.details}`) > 0,
      {},
    );
    consul.failNext(4, '/v1/health/service/errs');
    resolver.updateResolution();
    await eventually(() => reports.some((r) => r.startsWith('ok')), 5_000, 'recovery');
    resolver.destroy();
    const times = consul.healthQueries('errs').slice(0, 5).map((q) => q.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // 100 ms x1.6 per failure, +-20 % jitter: ~100, ~160, ~256, ~410 ms. A busy machine can only
    // stretch a gap, never shorten it, so each gap is checked against its delay's lower bound
    // (x0.8 for the jitter, minus 5 ms for timer rounding), which also proves the growth.
    for (let i = 0; i < 4; i++) expect(gaps[i]).toBeGreaterThanOrEqual(100 * 1.6 ** i * 0.8 - 5);
    expect(reports.slice(0, 4)).toEqual(Array(4).fill(expect.stringMatching(/^14 consul resolver for consul:\/\/127\.0\.0\.1:\d+\/errs: GET \/v1\/health\/service\/errs: HTTP 500 rpc error: No cluster leader$/)));
    expect(reports[4]).toBe('ok 1');
  });
});
