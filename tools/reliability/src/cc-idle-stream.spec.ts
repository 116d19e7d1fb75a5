// An idle server stream against C-core's default keepalive enforcement (python3-grpcio
// grpc.server() defaults: pings less than 5 min apart without data are strikes, the third
// strike is GOAWAY ENHANCE_YOUR_CALM "too_many_pings"). docs/reliability.md, "Keepalive pairing
// (gRFC A8)". Two channels to one peer, streams opened together and held idle HOLD_MS:
// - createClient() defaults (DEFAULT_CHANNEL_OPTIONS): the stream lasts and ends OK;
// - the control, the pre-A8 defaults (ping every 30 s, also without calls): refused, which
//   proves this peer enforces, so the first result means something.
import { closeAllChannels, createClient, DEFAULT_CHANNEL_OPTIONS } from '@grpc-patterns/grpc-kit';
import { analyticsV1 } from '@grpc-patterns/proto';
import { describeRequiring, grpc } from '@grpc-patterns/testing';
import { ccPeerMissing, startCcPeer, type CcPeer } from './cc-peer.js';

/** Longer than the 120-150 s after which C-core cut the old 30 s keepalive (issue 12). */
const HOLD_MS = 170_000;
const OLD_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.keepalive_permit_without_calls': 1 };

interface Outcome {
  code: grpc.status;
  details: string;
  messages: number;
  ms: number;
}

function hold(client: analyticsV1.AnalyticsServiceClient): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    let messages = 0;
    const call = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({}));
    call.on('data', () => messages++);
    call.on('error', () => undefined); // the status below carries it
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, messages, ms: Date.now() - started }));
  });
}

describeRequiring('idle stream vs C-core default keepalive enforcement (python3-grpcio)', ccPeerMissing(), () => {
  let peer: CcPeer;

  beforeAll(async () => {
    // DEBUG: C-core logs each GOAWAY it sends, with its reason.
    peer = await startCcPeer({ holdMs: HOLD_MS, verbosity: 'DEBUG' });
  }, 90_000);
  afterAll(async () => {
    closeAllChannels();
    await peer?.stop();
  });

  it(`a stream idle ${HOLD_MS / 1000} s with createClient() defaults ends OK; the old 30 s keepalive gets too_many_pings`, async () => {
    expect(DEFAULT_CHANNEL_OPTIONS).toEqual({ 'grpc.keepalive_time_ms': 300_000, 'grpc.keepalive_timeout_ms': 20_000, 'grpc.keepalive_permit_without_calls': 0 });
    const defaults = createClient(analyticsV1.AnalyticsServiceClient, peer.target);
    const old = createClient(analyticsV1.AnalyticsServiceClient, peer.target, { channelOptions: OLD_CHANNEL_OPTIONS });
    const [ok, refused] = await Promise.all([hold(defaults), hold(old)]);
    const evidence = `defaults: ${JSON.stringify(ok)}\nold: ${JSON.stringify(refused)}\npeer stderr (GOAWAY lines):\n${peer.stderr().split('\n').filter((l) => /goaway|interop_server/i.test(l)).join('\n')}`;

    expect({ code: grpc.status[ok.code], messages: ok.messages }).toEqual({ code: 'OK', messages: 1 });
    expect(ok.ms).toBeGreaterThanOrEqual(HOLD_MS - 1_000);

    // ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED in grpc-js; the 4th ping (3rd strike) is due at
    // 120 s. Bounds, not a time: the machine may be loaded.
    expect(grpc.status[refused.code]).toBe('RESOURCE_EXHAUSTED');
    expect(refused.messages).toBe(0);
    expect(refused.ms).toBeGreaterThan(60_000);
    expect(refused.ms).toBeLessThan(HOLD_MS);
    const goaways = peer.stderr().split('\n').filter((l) => /goaway/i.test(l) && /too_many_pings/.test(l));
    if (goaways.length !== 1) console.error(evidence);
    expect(goaways).toHaveLength(1);
    console.log(evidence);
  }, HOLD_MS + 90_000);
});
