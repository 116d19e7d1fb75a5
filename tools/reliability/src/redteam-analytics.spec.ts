// Red-team finding 3 of issue 17, against real spawned auth and analytics processes: one user
// opening four full-dataset StreamFlights and never reading them took every scan slot
// (MAX_CONCURRENT_SCANS 4) for up to the hour a stream may stay open, and everyone else got
// RESOURCE_EXHAUSTED. Now slots are shared per user (MAX_SCANS_PER_USER) and a stream whose
// client stops reading is ended after STREAM_STALL_TIMEOUT_MS, which frees its slot.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { analyticsV1, googleRpc } from '@grpc-patterns/proto';
import { grpc, jsonLogLines, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { expectAlive, STACK_START_TIMEOUT_MS, stackBuilt, startStack, type Stack, type StackUser } from './stack.js';

const { run, missing } = stackBuilt();
if (!run) console.warn(`red-team analytics suite skipped: not built: ${missing.join(', ')} (npx nx run-many -t build)`);

/** The stall timeout of the second analytics process, ms (short, so the test does not wait 30 s). */
const STALL_MS = 3_000;

type FlightsCall = grpc.ClientReadableStream<analyticsV1.StreamFlightsResponse>;

/** How a stream started: its first message came, or it ended first with this status. */
type Start = { started: true } | { started: false; status: grpc.ServiceError };

/** Opens a full-dataset StreamFlights (300 messages of 10,000 flights), reads one message, then stops reading. */
function stalledScan(client: analyticsV1.AnalyticsServiceClient, who: StackUser): { call: FlightsCall; start: Promise<Start>; status: Promise<grpc.StatusObject> } {
  const call = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ chunkSize: 10_000 }), who.metadata(), { deadline: Date.now() + 300_000 });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const start = new Promise<Start>((resolve) => {
    call.once('data', () => {
      // (A grpc-js stream that was never read from buffers everything client-side; this one
      // reads once and pauses, so HTTP/2 flow control stops the server, as a stalled client would.)
      call.pause();
      resolve({ started: true });
    });
    call.on('error', (status: grpc.ServiceError) => resolve({ started: false, status }));
  });
  return { call, start, status };
}

/** A small scan (one flight): the call another user makes while the slots are contested. */
function smallScan(client: analyticsV1.AnalyticsServiceClient, who: StackUser): Promise<{ code: string; details: string; flights: number; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    let flights = 0;
    const call = client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'SFO', limit: 1 }), who.metadata(), { deadline: Date.now() + 60_000 });
    call.on('data', (m: analyticsV1.StreamFlightsResponse) => (flights += m.flights.length));
    call.on('error', (error: grpc.ServiceError) => resolve({ code: grpc.status[error.code], details: error.details, flights, error }));
    call.on('status', (st) => {
      if (st.code === grpc.status.OK) resolve({ code: 'OK', details: st.details, flights });
    });
  });
}

/** RetryInfo (ms) and ErrorInfo from a failed call's `grpc-status-details-bin`. */
function richDetails(error: grpc.ServiceError | undefined): { retryDelayMs?: number; reason?: string; metadata?: Record<string, string> } {
  const raw = error?.metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return {};
  const st = googleRpc.Status.decode(raw);
  const out: { retryDelayMs?: number; reason?: string; metadata?: Record<string, string> } = {};
  for (const d of st.details) {
    if (d.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
      const delay = googleRpc.RetryInfo.decode(d.value).retryDelay;
      out.retryDelayMs = delay ? Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6) : 0;
    }
    if (d.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo') {
      const info = googleRpc.ErrorInfo.decode(d.value);
      out.reason = info.reason;
      out.metadata = { ...info.metadata };
    }
  }
  return out;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

(run ? describe : describe.skip)('red team, finding 3: one user cannot lock everyone out of analytics', () => {
  let stack: Stack;
  let analytics: ServiceProcess;
  let stalling: ServiceProcess | undefined;
  const clients: analyticsV1.AnalyticsServiceClient[] = [];
  const client = (service: ServiceProcess) => {
    const c = new analyticsV1.AnalyticsServiceClient(service.target, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    // The documented defaults, stated: 4 slots, 2 per user; stall timeout left at its default (30 s).
    stack = await startStack(['analytics'], { MAX_CONCURRENT_SCANS: '4', MAX_SCANS_PER_USER: '2', LOG_LEVEL: 'info' });
    analytics = stack.get('analytics');
    stalling = await spawnService({
      name: 'analytics',
      readyTimeoutMs: 120_000,
      env: { LOG_LEVEL: 'info', AUTH_TARGET: stack.get('auth').target, MAX_CONCURRENT_SCANS: '4', MAX_SCANS_PER_USER: '2', STREAM_STALL_TIMEOUT_MS: String(STALL_MS) },
    });
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    for (const c of clients) c.close();
    closeAllChannels();
    await stalling?.stop();
    await stack?.stop();
  });

  it('four unread full scans of one user take two slots; a second user still scans; the limits say which one applied', async () => {
    const [hog, other, third, fourth] = await Promise.all([stack.user('hog'), stack.user('other'), stack.user('third'), stack.user('fourth')]);
    const c = client(analytics);
    const hogScans = [0, 1, 2, 3].map(() => stalledScan(c, hog));
    const starts = await Promise.all(hogScans.map((s) => s.start));
    try {
      // The hog: two scans run (stalled by flow control), two are refused per user.
      expect(starts.filter((s) => s.started)).toHaveLength(2);
      const refused = starts.flatMap((s) => (s.started ? [] : [s.status]));
      expect(refused.map((e) => [grpc.status[e.code], e.details])).toEqual([
        ['RESOURCE_EXHAUSTED', 'too many concurrent scans for this user (limit 2 per user); retry later'],
        ['RESOURCE_EXHAUSTED', 'too many concurrent scans for this user (limit 2 per user); retry later'],
      ]);
      expect(richDetails(refused[0])).toEqual({ retryDelayMs: 1_000, reason: 'SCAN_LIMIT_PER_USER', metadata: { limit: '2', scope: 'user' } });

      // Another user is not locked out.
      const second = await smallScan(c, other);
      expect([second.code, second.flights]).toEqual(['OK', 1]);

      // Two more users take the remaining two slots; a fourth user then meets the global limit.
      const more = [stalledScan(c, third), stalledScan(c, third)];
      expect((await Promise.all(more.map((s) => s.start))).map((s) => s.started)).toEqual([true, true]);
      const full = await smallScan(c, fourth);
      expect([full.code, full.details]).toEqual(['RESOURCE_EXHAUSTED', 'too many concurrent scans (limit 4); retry later']);
      expect(richDetails(full.error)).toEqual({ retryDelayMs: 1_000, reason: 'SCAN_LIMIT_GLOBAL', metadata: { limit: '4', scope: 'server' } });
      for (const s of more) s.call.cancel();
      await Promise.all(more.map((s) => s.status));
    } finally {
      for (const s of hogScans) s.call.cancel();
      await Promise.all(hogScans.map((s) => s.status));
    }
    await expectAlive(analytics);
  });

  it(`a stream whose client stops reading ends with RESOURCE_EXHAUSTED "client not reading" after ${STALL_MS} ms, freeing its slot`, async () => {
    const service = stalling as ServiceProcess;
    const hog = await stack.user('staller');
    const c = client(service);
    const from = service.output().length;
    const stalledEnded = () => jsonLogLines(service.output().slice(from)).filter((l) => l.msg === 'scan finished' && l.outcome === 'RESOURCE_EXHAUSTED').length;
    const scans = [stalledScan(c, hog), stalledScan(c, hog)];
    try {
      expect((await Promise.all(scans.map((s) => s.start))).map((s) => s.started)).toEqual([true, true]);
      // Without the timeout both scans would hold their slots until the client reads or the
      // connection's age runs out (up to 90 min); with it the server ends them on its own.
      await waitFor(() => stalledEnded() === 2, 'both stalled scans to be ended by the server', 60_000);
      // The slots are free again: the same user can scan (its per-user limit is 2).
      const again = await smallScan(c, hog);
      expect([again.code, again.flights]).toEqual(['OK', 1]);
      // When the client reads again it gets what was queued, then the status.
      for (const s of scans) s.call.resume();
      const statuses = await Promise.all(scans.map((s) => s.status));
      expect(statuses.map((st) => [grpc.status[st.code], st.details])).toEqual([
        ['RESOURCE_EXHAUSTED', `client not reading for ${STALL_MS / 1000} s; stream ended`],
        ['RESOURCE_EXHAUSTED', `client not reading for ${STALL_MS / 1000} s; stream ended`],
      ]);
    } finally {
      for (const s of scans) s.call.cancel();
    }
    await expectAlive(service);
  });
});
