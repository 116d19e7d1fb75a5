// The canary policy end to end: three replicas registered in the in-test Consul agent with
// Meta version v1/v1/v2, a channel on consul:// with {"canary":{"version":"v2","weightPercent":10}}.
import { grpc, expectStatus, type TestServer } from '@grpc-patterns/testing';
import { FakeConsul } from '../test/fake-consul';
import { countCalls, startReplica, waitForExactly, who, WHO_SERVICE, whoClient, type WhoClient } from '../test/who';
import { CanaryLoadBalancingConfig, ConsulRegistrar, registerCanaryPolicy, registerConsulResolver } from './index';

const pinned = (version: string) => () => {
  const md = new grpc.Metadata();
  md.set('x-version', version);
  return md;
};

describe('CanaryLoadBalancingConfig', () => {
  it('parses defaults and rejects bad fields', () => {
    expect(CanaryLoadBalancingConfig.createFromJson({}).toJsonObject()).toEqual({ canary: { version: 'v2', weightPercent: 0, metadataKey: 'x-version', versionKey: 'version' } });
    expect(() => CanaryLoadBalancingConfig.createFromJson({ weightPercent: 150 })).toThrow('weightPercent must be a number in 0..100');
    expect(() => CanaryLoadBalancingConfig.createFromJson({ version: '' })).toThrow('version must be a non-empty string');
  });
});

describe('canary policy', () => {
  let consul: FakeConsul;
  const replicas: TestServer[] = [];
  const registrars: ConsulRegistrar[] = [];
  let client: WhoClient;

  beforeAll(async () => {
    consul = await new FakeConsul().start();
    registerConsulResolver({ waitSeconds: 2, minIntervalMs: 10 });
    registerCanaryPolicy();
    for (const [id, version] of [['v1-a', 'v1'], ['v1-b', 'v1'], ['v2-a', 'v2']]) {
      const replica = await startReplica(id);
      replicas.push(replica);
      const registrar = new ConsulRegistrar({ service: 'canary', address: consul.address, meta: { version }, healthService: WHO_SERVICE, checkIntervalSeconds: 1 });
      registrars.push(registrar);
      await registrar.register({ host: '127.0.0.1', port: replica.running.port });
    }
    client = whoClient(`consul://${consul.address}/canary`, { loadBalancingConfig: [{ canary: { version: 'v2', weightPercent: 10 } }] });
    // Every subchannel READY before counting (pinned calls do not move the weighted counter).
    await waitForExactly(client, ['v1-a', 'v1-b', 'v2-a']);
  });

  afterAll(async () => {
    client?.close();
    await Promise.all(registrars.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(replicas.map((r) => r.close()));
    await consul.stop();
  });

  it('x-version: v2 goes to v2 only, x-version: v1 to v1 only, exact counts', async () => {
    const v2 = await countCalls(client, 200, { concurrency: 8, metadata: pinned('v2') });
    expect(Object.fromEntries(v2)).toEqual({ 'v2-a': 200 });
    const v1 = await countCalls(client, 200, { concurrency: 8, metadata: pinned('v1') });
    expect(Object.fromEntries(v1)).toEqual({ 'v1-a': 100, 'v1-b': 100 });
  });

  it('calls without the header split 10 % to v2: exactly 100 of 1,000', async () => {
    const counts = await countCalls(client, 1_000, { concurrency: 8 });
    console.log(`canary 10 %: ${JSON.stringify(Object.fromEntries(counts))}`);
    expect(counts.get('v2-a')).toBe(100);
    expect(counts.get('v1-a')).toBe(450);
    expect(counts.get('v1-b')).toBe(450);
  });

  it('with no v2 endpoint left, pinned calls fail UNAVAILABLE and the rest go to v1', async () => {
    await registrars[2].deregister();
    await waitForExactly(client, ['v1-a', 'v1-b']);
    const error = await expectStatus(who(client, { metadata: pinned('v2')(), deadlineMs: 1_000 }));
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.details).toBe('canary: no v2 endpoint');
    const counts = await countCalls(client, 100, { concurrency: 4 });
    expect(Object.fromEntries(counts)).toEqual({ 'v1-a': 50, 'v1-b': 50 });
  });
});
