// The etcd resolver and registrar against a real etcd (test/etcd-server.ts): registration,
// membership changes, lease expiry after a crash, grpc-go's layout written by etcdctl, and
// round_robin distribution over three replicas.
import type { TestServer } from '@grpc-patterns/testing';
import { experimental } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describeWithEtcd, startEtcd, type EtcdServer } from '../test/etcd-server';
import { countCalls, eventually, startReplica, waitForExactly, who, whoClient, type WhoClient } from '../test/who';
import { decodeEtcdMetadata, encodeEtcdMetadata, ENDPOINT_METADATA_ATTRIBUTE, EtcdRegistrar, EtcdResolver, parseEtcdNamingValue, registerEtcdResolver } from './index';

function address(replica: TestServer): { host: string; port: number } {
  return { host: '127.0.0.1', port: replica.running.port };
}

describe('encodeEtcdMetadata / decodeEtcdMetadata', () => {
  it('writes sorted form-urlencoded pairs and reads them back; reads the old object form too', () => {
    expect(encodeEtcdMetadata({ zone: 'eu west', version: 'v1' })).toBe('version=v1&zone=eu+west');
    expect(encodeEtcdMetadata({})).toBe('');
    expect(decodeEtcdMetadata(encodeEtcdMetadata({ version: 'v1', odd: 'a=b&c' }))).toEqual({ version: 'v1', odd: 'a=b&c' });
    expect(decodeEtcdMetadata({ version: 'v1', n: 2, nested: {} })).toEqual({ version: 'v1', n: '2' });
    expect(decodeEtcdMetadata('written by etcdctl')).toEqual({});
    expect(decodeEtcdMetadata(42)).toEqual({});
  });
});

describe('parseEtcdNamingValue', () => {
  it('reads Add entries in both of etcd naming\'s JSON forms and drops Delete ops and junk', () => {
    expect(parseEtcdNamingValue('{"Op":0,"Addr":"10.0.0.1:50055","Metadata":{"version":"v2"}}')).toEqual({ host: '10.0.0.1', port: 50055, metadata: { version: 'v2' } });
    expect(parseEtcdNamingValue('{"Addr":"[::1]:8080","Metadata":"opaque"}')).toEqual({ host: '::1', port: 8080, metadata: {} });
    // The layout grpc-go can hash: Metadata as a form-urlencoded string (what the registrar writes).
    expect(parseEtcdNamingValue('{"Op":0,"Addr":"10.0.0.1:50055","Metadata":"version=v2&zone=eu%20west"}')).toEqual({ host: '10.0.0.1', port: 50055, metadata: { version: 'v2', zone: 'eu west' } });
    expect(parseEtcdNamingValue('{"Addr":"10.0.0.1:1","Metadata":null}')).toEqual({ host: '10.0.0.1', port: 1, metadata: {} });
    expect(parseEtcdNamingValue('{"Op":1,"Addr":"10.0.0.1:50055"}')).toBeUndefined();
    expect(parseEtcdNamingValue('{"Addr":"10.0.0.1"}')).toBeUndefined();
    expect(parseEtcdNamingValue('not json')).toBeUndefined();
  });
});

describeWithEtcd('etcd discovery (real etcd)', () => {
  let etcd: EtcdServer;
  let kv: Etcd3;
  const replicas: TestServer[] = [];
  const clients: WhoClient[] = [];
  const registrars: EtcdRegistrar[] = [];
  const children: ChildProcess[] = [];

  const replica = async (id: string, delayMs = 0) => {
    const r = await startReplica(id, delayMs);
    replicas.push(r);
    return r;
  };
  const registrar = (service: string, id: string, metadata: Record<string, string> = { version: 'v1' }) => {
    const r = new EtcdRegistrar({ service, instanceId: id, endpoints: [etcd.endpoint], metadata, ttlSeconds: 5 });
    registrars.push(r);
    return r;
  };
  const client = (service: string) => {
    const c = whoClient(`etcd:///${service}`);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    kv = new Etcd3({ hosts: [etcd.endpoint] });
    registerEtcdResolver({ endpoints: [etcd.endpoint] });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const c of clients) c.close();
    await Promise.all(registrars.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(replicas.map((r) => r.close()));
    kv?.close();
    await etcd?.stop();
  });

  it('registers under <service>/<id> with a lease in grpc-go\'s value layout, and deregisters', async () => {
    const r = new EtcdRegistrar({ service: 'reg', endpoints: [etcd.endpoint], metadata: { version: 'v7' }, ttlSeconds: 5 });
    await r.register({ host: '127.0.0.1', port: 50999 });
    expect(r.registeredKey).toBe('reg/127.0.0.1:50999');
    expect(JSON.parse((await kv.get('reg/127.0.0.1:50999').string()) as string)).toEqual({ Op: 0, Addr: '127.0.0.1:50999', Metadata: 'version=v7' });
    const lease = await kv.get('reg/127.0.0.1:50999').exec();
    expect(lease.kvs[0].lease).not.toBe('0');
    await r.deregister();
    expect(await kv.get('reg/127.0.0.1:50999').string()).toBeNull();
    await r.deregister(); // idempotent
  });

  it('resolves asynchronously, sorted, with metadata, and reports nothing after destroy()', async () => {
    await kv.put('direct/b').value('{"Op":0,"Addr":"127.0.0.1:2002","Metadata":{"version":"v2"}}');
    await kv.put('direct/a').value('{"Op":0,"Addr":"127.0.0.1:2001","Metadata":{"version":"v1"}}');
    await kv.put('direct/junk').value('nope');
    const calls: Array<{ endpoints: string[]; attributes: Record<string, unknown> }> = [];
    const listener: experimental.ResolverListener = (endpoints, attributes) => {
      calls.push({ endpoints: endpoints.ok ? endpoints.value.map((e) => experimental.subchannelAddressToString(e.addresses[0])) : [`error ${endpoints.error.details}`], attributes });
      return true;
    };
    const resolver = new EtcdResolver({ scheme: 'etcd', path: '/direct' }, listener, {});
    resolver.updateResolution();
    expect(calls).toHaveLength(0); // never synchronously
    await eventually(() => calls.length === 1, 5_000, 'first resolution');
    expect(calls[0].endpoints).toEqual(['127.0.0.1:2001', '127.0.0.1:2002']);
    expect(calls[0].attributes[ENDPOINT_METADATA_ATTRIBUTE]).toEqual({ '127.0.0.1:2001': { version: 'v1' }, '127.0.0.1:2002': { version: 'v2' } });
    await kv.put('direct/c').value('{"Op":0,"Addr":"127.0.0.1:2000"}');
    await eventually(() => calls.length === 2, 5_000, 'update after a put');
    expect(calls[1].endpoints).toEqual(['127.0.0.1:2000', '127.0.0.1:2001', '127.0.0.1:2002']);
    // Rewriting an entry with the same content changes nothing: no report (no churn).
    await kv.put('direct/c').value('{"Op":0,"Addr":"127.0.0.1:2000"}');
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toHaveLength(2);
    resolver.destroy();
    await kv.delete().key('direct/a');
    await new Promise((r) => setTimeout(r, 500));
    expect(calls).toHaveLength(2);
  });

  it('follows membership changes within seconds: a replica leaves, a new one gets traffic', async () => {
    const [a, b, c] = [await replica('m-a'), await replica('m-b'), await replica('m-c')];
    await registrar('members', 'a').register(address(a));
    const rb = registrar('members', 'b');
    await rb.register(address(b));
    const ch = client('members');
    await waitForExactly(ch, ['m-a', 'm-b']);

    await rb.deregister();
    const leftMs = await waitForExactly(ch, ['m-a']);
    await registrar('members', 'c').register(address(c));
    const joinedMs = await waitForExactly(ch, ['m-a', 'm-c']);
    expect(leftMs).toBeLessThan(2_000);
    expect(joinedMs).toBeLessThan(2_000);
    console.log(`etcd membership: removal followed in ${leftMs} ms, new replica got traffic ${joinedMs} ms after registering`);
  });

  it('a key written by hand with etcdctl in grpc-go\'s layout is resolved and called', async () => {
    const r = await replica('go-layout');
    await etcd.etcdctl('put', 'golayout/instance-1', JSON.stringify({ Op: 0, Addr: `127.0.0.1:${r.running.port}`, Metadata: 'written by etcdctl' }));
    const ch = client('golayout');
    expect(await who(ch, { waitForReady: true })).toBe('go-layout');
  });

  it('a registrar process killed with SIGKILL disappears when its lease TTL runs out', async () => {
    const ttl = 2;
    const child = spawn(process.execPath, [join(__dirname, '..', 'test', 'registrar-process.cjs'), etcd.endpoint, 'crash', '127.0.0.1:50123', String(ttl)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(() => output.includes('registered') || child.exitCode !== null, 15_000, 'the registrar process to register');
    expect(output).toContain('registered');
    expect(await kv.get('crash/127.0.0.1:50123').string()).not.toBeNull();
    // Alive: the lease is kept past its TTL.
    await new Promise((r) => setTimeout(r, ttl * 1000 + 500));
    expect(await kv.get('crash/127.0.0.1:50123').string()).not.toBeNull();

    const killedAt = Date.now();
    child.kill('SIGKILL');
    const goneMs = await eventually(async () => (await kv.get('crash/127.0.0.1:50123').string()) === null, (ttl + 5) * 1000, 'the key to expire');
    expect(goneMs).toBeLessThanOrEqual((ttl + 2) * 1000);
    console.log(`etcd lease: key of a SIGKILLed registrar (TTL ${ttl} s) gone ${Date.now() - killedAt} ms after the kill`);
  });

  it('round_robin over 3 replicas behind etcd:///: 3,000 calls, each replica 33% +- 5%', async () => {
    const ids = ['d-1', 'd-2', 'd-3'];
    for (const id of ids) await registrar('dist', id).register(address(await replica(id)));
    const ch = client('dist');
    await waitForExactly(ch, ids);
    const started = Date.now();
    const counts = await countCalls(ch, 3_000, { concurrency: 16 });
    const elapsed = Date.now() - started;
    const shares = ids.map((id) => (counts.get(id) ?? 0) / 3_000);
    console.log(`etcd round_robin: ${ids.map((id, i) => `${id} ${counts.get(id)} (${(shares[i] * 100).toFixed(1)}%)`).join(', ')} in ${elapsed} ms`);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(3_000);
    for (const share of shares) {
      expect(share).toBeGreaterThanOrEqual(1 / 3 - 0.05);
      expect(share).toBeLessThanOrEqual(1 / 3 + 0.05);
    }
  });

  it('failover under steady load: one replica is SIGKILLed, one stops gracefully, no call is lost; a new replica gets traffic within 2 s', async () => {
    // f-1 is a separate process (so SIGKILL is a real crash: the kernel resets its connections
    // and its key stays until the lease expires); f-2 and f-3 are in process.
    const crashing = spawn(process.execPath, [join(__dirname, '..', 'test', 'registrar-process.cjs'), etcd.endpoint, 'failover', 'serve', '5', 'f-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(crashing);
    let output = '';
    crashing.stdout.on('data', (c: Buffer) => (output += c.toString()));
    crashing.stderr.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(() => output.includes('registered') || crashing.exitCode !== null, 15_000, 'the f-1 process to register');
    const servers = new Map<string, TestServer>();
    const regs = new Map<string, EtcdRegistrar>();
    for (const id of ['f-2', 'f-3']) {
      servers.set(id, await replica(id, 5)); // 5 ms per call: calls are in flight when replicas go
      regs.set(id, registrar('failover', id));
      await regs.get(id)?.register(address(servers.get(id) as TestServer));
    }
    // Retry UNAVAILABLE (the call did not get an answer from that replica) and wait for a
    // READY subchannel, as methodServiceConfig() in grpc-kit writes it for PlaceOrder.
    const ch = whoClient('etcd:///failover', {
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: [
        {
          name: [{ service: 'test.v1.Who' }],
          waitForReady: true,
          retryPolicy: { maxAttempts: 5, initialBackoff: '0.05s', maxBackoff: '0.5s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
        },
      ],
    });
    clients.push(ch);
    await waitForExactly(ch, ['f-1', 'f-2', 'f-3']);

    const errors: string[] = [];
    const counts = new Map<string, number>();
    const firstSeen = new Map<string, number>();
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const id = await who(ch, { deadlineMs: 5_000 });
          counts.set(id, (counts.get(id) ?? 0) + 1);
          if (!firstSeen.has(id)) firstSeen.set(id, Date.now());
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(500);
    crashing.kill('SIGKILL');
    await sleep(500);
    // Graceful, as serve() does on SIGTERM: deregister, propagation wait, drain.
    await regs.get('f-2')?.deregister();
    await sleep(300);
    await servers.get('f-2')?.running.shutdown('test: graceful stop');
    await sleep(300);
    const fresh = await replica('f-4', 5);
    await registrar('failover', 'f-4').register(address(fresh));
    const registeredAt = Date.now();
    await eventually(() => firstSeen.has('f-4'), 2_000, 'the new replica to get a call');
    await sleep(500);
    stop = true;
    await load;
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const joinMs = (firstSeen.get('f-4') as number) - registeredAt;
    console.log(`etcd failover: ${total} calls, ${errors.length} failed, per replica ${JSON.stringify(Object.fromEntries(counts))}, new replica's first call ${joinMs} ms after registering`);
    expect(errors).toEqual([]);
    expect(counts.get('f-1')).toBeGreaterThan(0);
    expect(joinMs).toBeLessThan(2_000);
  });
});
