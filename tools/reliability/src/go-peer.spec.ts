// The grpc-go peer (tools/interop/go, Debian's grpc-go 1.33 and etcd 3.4 clientv3, typed stubs
// generated from proto/) against this repo:
// - etcd naming both ways: etcd's own grpc-go resolver (clientv3/naming/resolver, round_robin)
//   over replicas our EtcdRegistrar registered, and our etcd:/// resolver (and canary policy)
//   over Go servers registered with etcd's endpoints.Manager; plus the panic the old layout
//   (Metadata as a JSON object) caused in grpc-go, kept as a regression check;
// - grpc's interop cases against the five real services, as the Python client runs them;
// - rich errors (BadRequest, RetryInfo) read with grpc-go's status.Details().
import { closeAllChannels, createClient, GrpcError, unary, unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { EtcdRegistrar, registerCanaryPolicy, registerEtcdResolver } from '@grpc-patterns/discovery';
import { authV1 } from '@grpc-patterns/proto';
import { describeRequiring, etcdAvailability, grpc, startEtcd, startTestServer, type EtcdServer, type TestServer } from '@grpc-patterns/testing';
import { buildGoPeer, goPeerMissing, runGoPeer, startGoServer, type GoServer } from './go-peer.js';
import { SPECIAL_STATUS_MESSAGE } from './interop-messages.js';
import { STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack } from './stack.js';

const etcd = etcdAvailability();
const goMissing = goPeerMissing();
const BUILD_TIMEOUT_MS = 660_000;

/** An in-process kit server whose GetPublicKeys answers one key with kid = `id` (which replica answered). */
function keyServer(id: string): Promise<TestServer> {
  const notUsed = unary(async () => {
    throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
  });
  const implementation: authV1.AuthServiceServer = {
    register: notUsed,
    login: notUsed,
    refresh: notUsed,
    getUser: notUsed,
    getPublicKeys: unary(async () => authV1.GetPublicKeysResponse.fromPartial({ keys: [{ kid: id, kty: 'OKP' }], issuer: 'ts' })),
  };
  return startTestServer({ services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation }] });
}

interface ResolveResult {
  registry: Record<string, { Addr: string; Metadata: unknown }>;
  warmupCalls: number;
  byKid: Record<string, number>;
  byPeer: Record<string, number>;
  failures: Record<string, number>;
}

describeRequiring('grpc-go and etcd\'s own naming packages against our registrar and resolver', goMissing ?? (etcd.available ? undefined : etcd.reason), () => {
  let binary: string;
  let server: EtcdServer;
  const replicas: TestServer[] = [];
  const registrars: EtcdRegistrar[] = [];
  const goServers: GoServer[] = [];

  beforeAll(async () => {
    binary = buildGoPeer();
    server = await startEtcd();
    registerEtcdResolver({ endpoints: [server.endpoint] });
    registerCanaryPolicy();
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    closeAllChannels();
    await Promise.all(goServers.map((s) => s.stop()));
    await Promise.all(registrars.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(replicas.map((r) => r.close()));
    await server?.stop();
  });

  it('etcd\'s grpc-go resolver, round_robin, reaches every replica our registrar registered: 300 calls, each 33% +- 10%', async () => {
    const ids = ['ts-1', 'ts-2', 'ts-3'];
    for (const id of ids) {
      const replica = await keyServer(id);
      replicas.push(replica);
      const registrar = new EtcdRegistrar({ service: 'keys', instanceId: id, endpoints: [server.endpoint], metadata: { version: 'v1' }, ttlSeconds: 5 });
      registrars.push(registrar);
      await registrar.register({ host: '127.0.0.1', port: replica.running.port });
    }
    const run = await runGoPeer(binary, ['etcd-resolve', '--etcd', server.endpoint, '--service', 'keys', '--expect', '3', '--calls', '300']);
    const result = run.json<ResolveResult>();
    console.log(`go etcd resolver: ${JSON.stringify(result.byKid)} after ${result.warmupCalls} warm-up calls; registry as etcd's Manager reads it: ${JSON.stringify(Object.values(result.registry))}`);
    expect(run.code).toBe(0);
    expect(Object.values(result.registry).map((e) => e.Metadata)).toEqual(['version=v1', 'version=v1', 'version=v1']);
    expect(result.failures).toEqual({});
    expect(Object.keys(result.byKid).sort()).toEqual(ids);
    expect(Object.keys(result.byPeer)).toHaveLength(3);
    for (const id of ids) {
      expect(result.byKid[id]).toBeGreaterThanOrEqual(300 * (1 / 3 - 0.1));
      expect(result.byKid[id]).toBeLessThanOrEqual(300 * (1 / 3 + 0.1));
    }
  });

  it('the old layout (Metadata as a JSON object) crashes grpc-go: the panic the layout change fixes', async () => {
    const replica = replicas[0] as TestServer;
    await server.etcdctl('put', 'legacy/old', JSON.stringify({ Op: 0, Addr: `127.0.0.1:${replica.running.port}`, Metadata: { version: 'v1' } }));
    const run = await runGoPeer(binary, ['etcd-resolve', '--etcd', server.endpoint, '--service', 'legacy', '--calls', '1']);
    const panic = /panic: .*/.exec(run.stderr)?.[0];
    console.log(`go etcd resolver on the old layout: exit ${run.code}, ${panic}`);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('hash of unhashable type map[string]interface {}');
  });

  it('our etcd:/// resolver sends calls to Go servers registered with endpoints.Manager, and the canary policy reads their version', async () => {
    for (const [id, version] of [['go-v1', 'v1'], ['go-v2', 'v2']] as const) {
      goServers.push(await startGoServer(binary, ['--id', id, '--etcd', server.endpoint, '--service', 'gokeys', '--metadata', `version=${version}`]));
    }
    const written = JSON.parse(await server.etcdctl('get', goServers[1]?.key as string, '--print-value-only'));
    expect(written).toEqual({ Op: 0, Addr: goServers[1]?.address, Metadata: 'version=v2' });

    const kid = async (client: authV1.AuthServiceClient, metadata = new grpc.Metadata()) => {
      const response = await unaryCallDetailed(client.getPublicKeys.bind(client), authV1.GetPublicKeysRequest.fromPartial({}), { metadata, deadline: Date.now() + 10_000 });
      return response.response.keys[0]?.kid as string;
    };
    const count = async (client: authV1.AuthServiceClient, calls: number, metadata?: () => grpc.Metadata) => {
      const counts: Record<string, number> = {};
      for (let i = 0; i < calls; i++) {
        const id = await kid(client, metadata?.());
        counts[id] = (counts[id] ?? 0) + 1;
      }
      return counts;
    };
    const roundRobin = createClient(authV1.AuthServiceClient, 'etcd:///gokeys', { serviceConfig: { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [{ name: [{}], waitForReady: true }] } });
    // Both subchannels READY first (round_robin picks only READY ones).
    const seen = new Set<string>();
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(await kid(roundRobin));
    const spread = await count(roundRobin, 100);
    const canary = createClient(authV1.AuthServiceClient, 'etcd:///gokeys', { serviceConfig: { loadBalancingConfig: [{ canary: { version: 'v2', weightPercent: 0 } }], methodConfig: [{ name: [{}], waitForReady: true }] } });
    await kid(canary);
    const pinned = await count(canary, 20, () => {
      const md = new grpc.Metadata();
      md.set('x-version', 'v2');
      return md;
    });
    const unpinned = await count(canary, 20);
    console.log(`ts etcd resolver over Go servers: round_robin ${JSON.stringify(spread)}, canary x-version v2 ${JSON.stringify(pinned)}, unpinned (weight 0) ${JSON.stringify(unpinned)}`);
    expect(spread).toEqual({ 'go-v1': 50, 'go-v2': 50 });
    expect(pinned).toEqual({ 'go-v2': 20 });
    expect(unpinned).toEqual({ 'go-v1': 20 });

    // SIGTERM: the Go server deletes its key with endpoints.Manager before stopping.
    await goServers[1]?.stop();
    expect(await server.etcdctl('get', goServers[1]?.key as string, '--print-value-only')).toBe('');
  });
});

const { run: stackReady, missing: notBuilt } = stackBuilt();

describeRequiring('grpc-go client against the real services', goMissing ?? (stackReady ? undefined : `not built: ${notBuilt.join(', ')} (npx nx run-many -t build)`), () => {
  let binary: string;
  let stack: Stack;
  let special: TestServer;
  const address = (name: 'auth' | 'analytics' | 'metrics' | 'chat' | 'orders') => `127.0.0.1:${stack.get(name).port}`;

  beforeAll(async () => {
    binary = buildGoPeer();
    // A small token bucket (burst 30, 1 call/s per user and method) so the rich-error flood is
    // rate limited whatever the machine's speed; the interop cases stay far below it.
    stack = await startStack(['analytics', 'metrics', 'chat', 'orders'], { RATE_LIMIT_BURST: '30', RATE_LIMIT_RPS: '1' });
    const fails = unary<authV1.GetUserRequest, authV1.GetUserResponse>(async () => {
      throw new GrpcError(grpc.status.UNKNOWN, SPECIAL_STATUS_MESSAGE);
    });
    special = await startTestServer({
      services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: { register: fails, login: fails, refresh: fails, getUser: fails, getPublicKeys: fails } }],
    });
  }, BUILD_TIMEOUT_MS + STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await special?.close();
    await stack?.stop();
  });

  it('every interop case the Python client runs passes with typed grpc-go stubs', async () => {
    const user = await stack.user('go');
    const args = ['interop', '--special', special.running.address, '--token', user.accessToken, '--user-id', user.id, '--username', user.username];
    for (const name of ['auth', 'analytics', 'metrics', 'chat', 'orders'] as const) args.push(`--${name}`, address(name));
    const run = await runGoPeer(binary, args);
    const cases = ['empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream', 'custom_metadata', 'status_code_and_message', 'special_status_message', 'unimplemented_method', 'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response', 'timeout_on_sleeping_server'];
    expect(run.json()).toEqual(Object.fromEntries(cases.map((c) => [c, 'ok'])));
  });

  it('rich errors: BadRequest and RetryInfo read with status.Details(), pushback trailer equal to the delay', async () => {
    const user = await stack.user('gorich');
    const run = await runGoPeer(binary, ['rich-errors', '--auth', address('auth'), '--token', user.accessToken, '--user-id', user.id, '--flood', '80']);
    const result = run.json<{
      badRequest: { code: string; message: string; fieldViolations: Array<{ field: string; description: string }>; otherDetails: string[] };
      rateLimited: { code: string; message: string; retryDelayMs: number; pushbackMs: number } | null;
      floodCodes: Record<string, number>;
    }>();
    console.log(`go rich errors: ${JSON.stringify(result)}`);
    expect(result.badRequest.code).toBe('InvalidArgument');
    expect(result.badRequest.fieldViolations.map((v) => v.field)).toEqual(['user_id']);
    expect(result.badRequest.fieldViolations[0]?.description).toMatch(/\S/);
    expect(result.badRequest.otherDetails).toEqual([]);
    expect(result.rateLimited?.code).toBe('ResourceExhausted');
    expect(result.rateLimited?.retryDelayMs).toBeGreaterThan(0);
    expect(result.rateLimited?.retryDelayMs).toBeLessThanOrEqual(1_000);
    expect(result.rateLimited?.pushbackMs).toBe(result.rateLimited?.retryDelayMs);
    expect((result.floodCodes['OK'] ?? 0) + (result.floodCodes['ResourceExhausted'] ?? 0)).toBe(80);
    expect(result.floodCodes['OK']).toBeLessThanOrEqual(31);
  });
});
