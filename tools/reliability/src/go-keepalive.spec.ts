// An idle stream from our clients (createClient() defaults) to a grpc-go server that keeps the
// production keepalive enforcement: keepalive.EnforcementPolicy{MinTime: 5 min,
// PermitWithoutStream: false}, grpc-go's default, set explicitly by tools/interop/go. A chat
// stream joins, stays idle for 160 s (longer than the 150 s after which the old defaults, pings
// every 30 s, were cut off by C-core) and must then still carry a message and end OK.
//
// A control channel with the old defaults (30 s, 10 s, permit without calls) runs next to it
// and must get the GOAWAY too_many_pings: the test is the proof that the window is long enough
// to catch the failure. Kept in its own spec file: it takes ~3 minutes and jest runs files in
// parallel when it has the workers.
import { closeAllChannels, createClient } from '@grpc-patterns/grpc-kit';
import { chatV1 } from '@grpc-patterns/proto';
import { describeRequiring, grpc } from '@grpc-patterns/testing';
import { buildGoPeer, goPeerMissing, startGoServer, type GoServer } from './go-peer.js';

/** How long the stream stays idle, ms: past C-core's 150 s cut-off and grpc-go's third strike. */
const IDLE_MS = 160_000;
/** grpc-kit's DEFAULT_CHANNEL_OPTIONS before issue 12: the control channel. */
const OLD_KEEPALIVE = { 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.keepalive_permit_without_calls': 1 };

type ChatCall = grpc.ClientDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>;

interface Watched {
  call: ChatCall;
  responses: chatV1.ChatResponse[];
  /** Resolves when the call ends: OK, or its error status, with the time since the join, ms. */
  ended: Promise<{ code: number; details: string; afterMs: number }>;
  joinedAt: number;
}

function openChat(client: chatV1.ChatServiceClient, user: string): Promise<Watched> {
  const call = client.chat(new grpc.Metadata());
  const responses: chatV1.ChatResponse[] = [];
  let joinedAt = Date.now();
  const ended = new Promise<{ code: number; details: string; afterMs: number }>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details, afterMs: Date.now() - joinedAt }));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve({ code: s.code, details: s.details, afterMs: Date.now() - joinedAt });
    });
  });
  return new Promise((resolve, reject) => {
    call.on('data', (r: chatV1.ChatResponse) => {
      responses.push(r);
      if (responses.length === 1) {
        joinedAt = Date.now();
        resolve({ call, responses, ended, joinedAt });
      }
    });
    call.once('error', reject);
    call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'join', join: { room: 'idle', user } } }));
  });
}

describeRequiring('idle streams against a grpc-go server with keepalive enforcement (MinTime 5 min)', goPeerMissing(), () => {
  let server: GoServer;

  beforeAll(async () => {
    const binary = buildGoPeer();
    // grpc-go logs "Got too many pings from the client" at verbosity 2.
    server = await startGoServer(binary, ['--id', 'go-keepalive'], { GRPC_GO_LOG_SEVERITY_LEVEL: 'info', GRPC_GO_LOG_VERBOSITY_LEVEL: '2' });
  }, 660_000);
  afterAll(async () => {
    closeAllChannels();
    await server?.stop();
  });

  it(`a chat stream on createClient() defaults stays open ${IDLE_MS / 1000} s idle and ends OK; the old defaults get GOAWAY too_many_pings`, async () => {
    const target = `ipv4:${server.address}`;
    const current = createClient(chatV1.ChatServiceClient, target);
    const old = createClient(chatV1.ChatServiceClient, target, { channelOptions: OLD_KEEPALIVE });
    const [kept, control] = await Promise.all([openChat(current, 'defaults'), openChat(old, 'old-defaults')]);
    expect(kept.responses[0]?.event?.$case).toBe('presence');

    const controlEnd = await Promise.race([control.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), IDLE_MS))]);
    const remaining = IDLE_MS - (Date.now() - kept.joinedAt);
    if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
    const early = await Promise.race([kept.ended, Promise.resolve(undefined)]);
    expect(early).toBeUndefined(); // the stream on the defaults is still open after the idle window

    kept.call.write(chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text: 'still here' } } }));
    kept.call.end();
    const end = await kept.ended;
    console.log(
      `go keepalive: defaults stream ended ${grpc.status[end.code]} after ${(end.afterMs / 1000).toFixed(1)} s; ` +
        `old-defaults control ended ${controlEnd ? `${grpc.status[controlEnd.code]} "${controlEnd.details}" after ${(controlEnd.afterMs / 1000).toFixed(1)} s` : 'not at all'}; ` +
        `server logged too_many_pings: ${server.stderr().includes('too many pings')}`,
    );
    expect(grpc.status[end.code]).toBe('OK');
    expect(kept.responses.map((r) => (r.event?.$case === 'message' ? r.event.message.text : r.event?.$case))).toEqual(['presence', 'still here']);
    // The control: the old defaults are cut off inside the window, by the server's enforcement.
    expect(controlEnd).toBeDefined();
    // grpc-js ends the call as gRPC's HTTP/2 mapping says for ENHANCE_YOUR_CALM: RESOURCE_EXHAUSTED.
    expect(grpc.status[controlEnd?.code ?? grpc.status.OK]).toBe('RESOURCE_EXHAUSTED');
    expect(server.stderr()).toContain('too many pings');
    control.call.cancel();
  }, IDLE_MS + 60_000);
});
