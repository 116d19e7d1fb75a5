// Tests of grpc-kit's server and client behaviour through the harness: health with Watch,
// reflection, error mapping, default deadlines, channel reuse and graceful shutdown.
import { analyticsV1, authV1 } from '@grpc-patterns/proto';
import { closeAllChannels, createClient, GrpcError, invalidArgument, methodServiceConfig, openChannelCount, serverStreaming, unary, unaryCall, writeMessage } from '@grpc-patterns/grpc-kit';
import { HealthImplementation } from 'grpc-health-check';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { execFile } from 'node:child_process';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { collect, expectStatus, grpc, repoRoot, startTestServer, type TestServer } from './index.js';

const execFileAsync = promisify(execFile);

const healthPkg = grpc.loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

function authImpl(overrides: Partial<authV1.AuthServiceServer> = {}): authV1.AuthServiceServer {
  const notUsed = unary(async () => {
    throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
  });
  return {
    register: notUsed,
    login: notUsed,
    refresh: notUsed,
    getPublicKeys: notUsed,
    getUser: unary(async (call) => {
      if (call.request.userId === '') throw invalidArgument('user_id', 'must not be empty');
      if (call.request.userId === 'boom') throw new Error('secret internal detail');
      if (call.request.userId === 'slow') {
        slowStarted++;
        await new Promise((r) => setTimeout(r, 300));
      }
      return { user: { id: call.request.userId, username: 'u', displayName: 'U', roles: [] } };
    }),
    ...overrides,
  };
}

/** 'slow' GetUser calls whose handler has started. */
let slowStarted = 0;
let endless = 0;
const analyticsImpl: analyticsV1.AnalyticsServiceServer = {
  streamFlights: serverStreaming(async (call, signal) => {
    endless++;
    while (!signal.aborted) {
      await writeMessage(call, { flights: [], rowsScanned: '1', rowsTotal: '1' });
      await new Promise((r) => setTimeout(r, 10));
    }
  }),
  streamDelayStats: serverStreaming(async () => {
    throw new Error('not used');
  }),
};

describe('grpc-kit server and client', () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer({
      services: [
        { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: authImpl() },
        { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analyticsImpl },
      ],
    });
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  it('answers health Check for "" and each service, and Watch sees NOT_SERVING on shutdown', async () => {
    const health = new healthPkg.grpc.health.v1.Health(server.target, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: string }>((resolve, reject) =>
        (health as unknown as { check: (r: unknown, cb: (e: Error | null, r: { status: string }) => void) => void }).check({ service }, (e, r) => (e ? reject(e) : resolve(r))),
      );
    expect((await check('')).status).toBe('SERVING');
    expect((await check('auth.v1.AuthService')).status).toBe('SERVING');
    await expect(check('nope.v1.Nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const watch = (health as unknown as { watch: (r: unknown) => grpc.ClientReadableStream<{ status: string }> }).watch({ service: 'auth.v1.AuthService' });
    const seen: string[] = [];
    const ended = new Promise<void>((resolve) => {
      watch.on('data', (m) => {
        seen.push(m.status);
        if (m.status === 'NOT_SERVING') resolve();
      });
      watch.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 100));
    const stopping = server.running.shutdown('test');
    await ended;
    await stopping;
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    health.close();
    expect(HealthImplementation).toBeDefined();
  });

  it('maps thrown errors to statuses and hides unexpected ones behind INTERNAL', async () => {
    const client = server.client(authV1.AuthServiceClient);
    const getUser = client.getUser.bind(client);
    expect((await unaryCall(getUser, { userId: 'u1' })).user?.id).toBe('u1');
    const bad = await expectStatus(unaryCall(getUser, { userId: '' }));
    expect([bad.code, bad.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'user_id: must not be empty']);
    const internal = await expectStatus(unaryCall(getUser, { userId: 'boom' }));
    expect([internal.code, internal.details]).toEqual([grpc.status.INTERNAL, 'internal error']);
    expect(server.logs.some((l) => l.msg === 'unexpected error in handler' && JSON.stringify(l).includes('secret internal detail'))).toBe(true);
  });

  it('applies the client default deadline to unary calls', async () => {
    const client = server.client(authV1.AuthServiceClient, { defaultDeadlineMs: 100 });
    const late = await expectStatus(unaryCall(client.getUser.bind(client), { userId: 'slow' }));
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('retries UNAVAILABLE through the service config (gRFC A6) and applies its per-method timeout', async () => {
    let attempts = 0;
    const flaky = await startTestServer({
      services: [
        {
          name: 'auth.v1.AuthService',
          definition: authV1.AuthServiceService,
          implementation: authImpl({
            getUser: unary(async (call) => {
              attempts++;
              if (attempts < 3) throw new GrpcError(grpc.status.UNAVAILABLE, 'try again');
              if (call.request.userId === 'slow') await new Promise((r) => setTimeout(r, 1_500));
              return { user: { id: call.request.userId, username: 'u', displayName: 'U', roles: [] } };
            }),
          }),
        },
      ],
    });
    try {
      const serviceConfig = methodServiceConfig([{ service: 'auth.v1.AuthService', method: 'GetUser', retryableStatusCodes: ['UNAVAILABLE'], timeoutMs: 1_000 }]);
      const client = flaky.client(authV1.AuthServiceClient, { serviceConfig, defaultDeadlineMs: 0 });
      expect((await unaryCall(client.getUser.bind(client), { userId: 'u7' })).user?.id).toBe('u7');
      expect(attempts).toBe(3);
      const late = await expectStatus(unaryCall(client.getUser.bind(client), { userId: 'slow' }));
      expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      const noRetry = flaky.client(authV1.AuthServiceClient, { defaultDeadlineMs: 0, channelOptions: { 'grpc.enable_retries': 0 } });
      attempts = 0;
      const failed = await expectStatus(unaryCall(noRetry.getUser.bind(noRetry), { userId: 'u8' }));
      expect([failed.code, attempts]).toEqual([grpc.status.UNAVAILABLE, 1]);
    } finally {
      await flaky.close();
    }
  });

  it('reuses one channel per target', () => {
    closeAllChannels();
    const a = createClient(authV1.AuthServiceClient, server.target);
    const b = createClient(analyticsV1.AnalyticsServiceClient, server.target);
    expect(openChannelCount()).toBe(1);
    expect(a.getChannel()).toBe(b.getChannel());
    a.close(); // closes the shared channel: the next client must get a live one
    const c = createClient(authV1.AuthServiceClient, server.target);
    expect(c.getChannel()).not.toBe(b.getChannel());
    expect(c.getChannel().getConnectivityState(false)).not.toBe(grpc.connectivityState.SHUTDOWN);
  });

  it('ends open streams with UNAVAILABLE on shutdown and finishes in-flight unary calls', async () => {
    const analytics = server.client(analyticsV1.AnalyticsServiceClient);
    const auth = server.client(authV1.AuthServiceClient);
    const stream = analytics.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({}));
    const streamResult = collect(stream).catch((e: grpc.ServiceError) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.running.openStreams()).toBe(1);
    const before = slowStarted;
    const inflight = unaryCall(auth.getUser.bind(auth), { userId: 'slow' });
    // Shut down once the handler runs (connecting a new channel can take long on a loaded machine).
    while (slowStarted === before) await new Promise((r) => setTimeout(r, 5));
    await server.running.shutdown('test');
    const ended = (await streamResult) as grpc.ServiceError;
    expect([ended.code, ended.details]).toEqual([grpc.status.UNAVAILABLE, 'server shutting down']);
    expect((await inflight).user?.id).toBe('slow');
    expect(endless).toBeGreaterThan(0);
  });

  it('lets `buf curl` list and call services through reflection (the README commands)', async () => {
    const url = `http://${server.running.address}`;
    const buf = (args: string[]) => execFileAsync(join(repoRoot, 'node_modules', '.bin', 'buf'), ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args]);
    const list = await buf(['--list-services', url]);
    expect(list.stdout.trim().split('\n').sort()).toEqual(['analytics.v1.AnalyticsService', 'auth.v1.AuthService', 'grpc.health.v1.Health']);
    const methods = await buf(['--list-methods', url]);
    expect(methods.stdout).toContain('auth.v1.AuthService/GetUser');
    const call = await buf(['--data', '{"userId":"u42"}', `${url}/auth.v1.AuthService/GetUser`]);
    expect(JSON.parse(call.stdout)).toMatchObject({ user: { id: 'u42', username: 'u', displayName: 'U' } });
  });

  it('serves reflection for its own services and health', async () => {
    const { ServerReflectionClient } = await import('./reflection-client.js');
    const services = await ServerReflectionClient.listServices(server.target);
    expect(services.sort()).toEqual(['analytics.v1.AnalyticsService', 'auth.v1.AuthService', 'grpc.health.v1.Health']);
  });

  it('answers every client PING, however often: grpc-js 1.14 servers police no ping rate (docs/reliability.md, "Keepalive pairing")', async () => {
    // grpc-go and C-core servers send GOAWAY too_many_pings at the 4th of these (3rd strike). If
    // grpc-js ever enforces a policy, this fails and the pairing table needs updating.
    const session = connect(`http://${server.running.address}`);
    try {
      await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
      let goaway: number | undefined;
      session.on('goaway', (code) => (goaway = code));
      for (let i = 0; i < 10; i++) {
        await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
      }
      expect({ goaway, closed: session.closed, destroyed: session.destroyed }).toEqual({ goaway: undefined, closed: false, destroyed: false });
    } finally {
      session.destroy();
    }
  });
});
