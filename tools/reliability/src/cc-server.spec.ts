// Our clients against a server that is not ours: C-core (Debian's python3-grpcio) with
// grpc.server() defaults, tools/interop/python/interop_server.py. Unary and a short server
// stream with createClient() defaults; the long idle stream is cc-idle-stream.spec.ts.
import { closeAllChannels, createClient } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1 } from '@grpc-patterns/proto';
import { collect, describeRequiring, expectStatus, grpc } from '@grpc-patterns/testing';
import { ccPeerMissing, startCcPeer, type CcPeer } from './cc-peer.js';

describeRequiring('C-core server peer (python3-grpcio, default options)', ccPeerMissing(), () => {
  let peer: CcPeer;
  let auth: authV1.AuthServiceClient;
  let analytics: analyticsV1.AnalyticsServiceClient;

  beforeAll(async () => {
    peer = await startCcPeer({ holdMs: 500 });
    auth = createClient(authV1.AuthServiceClient, peer.target);
    analytics = createClient(analyticsV1.AnalyticsServiceClient, peer.target);
  }, 90_000);
  afterAll(async () => {
    closeAllChannels();
    await peer?.stop();
  });

  const getUser = (userId: string) =>
    new Promise<authV1.GetUserResponse>((resolve, reject) => auth.getUser(authV1.GetUserRequest.fromPartial({ userId }), (e, r) => (e ? reject(e) : resolve(r))));

  it('unary GetUser: the reply the Python servicer built, Timestamp included', async () => {
    const response = await getUser('7f0c2b8e-5d1a-4c3e-9b7a-1e2d3c4b5a69');
    expect(response.user).toMatchObject({ id: '7f0c2b8e-5d1a-4c3e-9b7a-1e2d3c4b5a69', username: 'cc-peer', displayName: 'C-core peer', roles: ['user'] });
    expect(Math.abs((response.user?.createTime?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it("C-core's status codes reach our client: INVALID_ARGUMENT from context.abort, UNIMPLEMENTED for a method the servicer lacks", async () => {
    const invalid = await expectStatus(getUser(''));
    expect([invalid.code, invalid.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'user_id: required']);
    const login = await expectStatus(new Promise((resolve, reject) => auth.login(authV1.LoginRequest.fromPartial({ username: 'a', password: 'b' }), (e, r) => (e ? reject(e) : resolve(r)))));
    expect(login.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('server stream StreamFlights: idle for the hold, then one message and OK', async () => {
    const started = Date.now();
    const messages = await collect(analytics.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({})));
    expect(messages).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(peer.stderr()).toMatch(/StreamFlights held 0\.\d s idle, ending OK/);
  });
});
