/**
 * The baseline: a bare grpc-js server (no interceptors, no health, no reflection, no logging)
 * serving the same generated service definitions, so the messages on the wire are the same as
 * the real services'. Run as its own process (forked by the bench, pinned to the server core);
 * it answers from memory what the bench gave it over IPC:
 * - auth.v1.AuthService/GetUser: the GetUserResponse the real auth returned for the bench user;
 * - analytics.v1.AnalyticsService/StreamFlights: the real service's first chunks, repeated until
 *   `limit` rows are sent, with the same backpressure as grpc-kit (wait for 'drain');
 * - metrics.v1.MetricsService/UploadMetrics: counts the points, answers received_count;
 * - chat.v1.ChatService/Chat: answers a JoinRoom with one presence event and holds the stream.
 *
 * IPC: the parent sends `{ type: 'setUser', response: base64 }`, `{ type: 'setFlights', chunks:
 * base64[] }`, `{ type: 'stats' }` (reply `{ type: 'stats', ok: number }`: calls ended OK).
 * On start it sends `{ type: 'listening', port }`.
 */
import * as grpc from '@grpc/grpc-js';
import { analyticsV1, authV1, chatV1, metricsV1 } from '@grpc-patterns/proto';
import { waitDrain } from './measure.js';

/** Messages from the bench to this process. */
export type BareCommand = { type: 'setUser'; response: string } | { type: 'setFlights'; chunks: string[] } | { type: 'stats' };
/** Messages from this process to the bench. */
export type BareReply = { type: 'listening'; port: number } | { type: 'stats'; ok: number } | { type: 'ack' };

let userResponse = authV1.GetUserResponse.fromPartial({});
let flightChunks: analyticsV1.StreamFlightsResponse[] = [];
let ok = 0;

const send = (reply: BareReply) => process.send?.(reply);

const auth: grpc.UntypedServiceImplementation = {
  getUser(_call: grpc.ServerUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse>, callback: grpc.sendUnaryData<authV1.GetUserResponse>) {
    ok++;
    callback(null, userResponse);
  },
};

const analytics: grpc.UntypedServiceImplementation = {
  async streamFlights(call: grpc.ServerWritableStream<analyticsV1.StreamFlightsRequest, analyticsV1.StreamFlightsResponse>) {
    const limit = call.request.limit || Infinity;
    let sent = 0;
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    for (let i = 0; sent < limit && !cancelled && flightChunks.length > 0; i++) {
      const chunk = flightChunks[i % flightChunks.length];
      const flights = chunk.flights.slice(0, limit - sent);
      sent += flights.length;
      if (!call.write({ ...chunk, flights })) await waitDrain(call);
    }
    if (!cancelled) {
      ok++;
      call.end();
    }
  },
};

const metrics: grpc.UntypedServiceImplementation = {
  uploadMetrics(call: grpc.ServerReadableStream<metricsV1.UploadMetricsRequest, metricsV1.UploadMetricsResponse>, callback: grpc.sendUnaryData<metricsV1.UploadMetricsResponse>) {
    let count = 0;
    call.on('data', () => count++);
    call.on('end', () => {
      ok++;
      callback(null, metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: String(count), acceptedCount: String(count) }));
    });
  },
};

const chat: grpc.UntypedServiceImplementation = {
  chat(call: grpc.ServerDuplexStream<chatV1.ChatRequest, chatV1.ChatResponse>) {
    call.on('data', (request: chatV1.ChatRequest) => {
      const join = request.action?.$case === 'join' ? request.action.join : undefined;
      if (join) {
        call.write(
          chatV1.ChatResponse.fromPartial({
            room: join.room,
            sequence: "1",
            time: new Date(),
            event: { $case: 'presence', presence: { user: join.user, kind: chatV1.PresenceKind.PRESENCE_KIND_JOINED, members: [join.user] } },
          }),
        );
      }
    });
    call.on('end', () => {
      ok++;
      call.end();
    });
    call.on('error', () => undefined);
  },
};

function main(): void {
  const server = new grpc.Server();
  server.addService(authV1.AuthServiceService, auth);
  server.addService(analyticsV1.AnalyticsServiceService, analytics);
  server.addService(metricsV1.MetricsServiceService, metrics);
  server.addService(chatV1.ChatServiceService, chat);
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      console.error(`bare server: bind failed: ${error.message}`);
      process.exit(1);
    }
    send({ type: 'listening', port });
  });
  process.on('message', (command: BareCommand) => {
    if (command.type === 'setUser') userResponse = authV1.GetUserResponse.decode(Buffer.from(command.response, 'base64'));
    if (command.type === 'setFlights') flightChunks = command.chunks.map((c) => analyticsV1.StreamFlightsResponse.decode(Buffer.from(c, 'base64')));
    send(command.type === 'stats' ? { type: 'stats', ok } : { type: 'ack' });
  });
  // The bench ends us with SIGTERM, or we go when it does (IPC channel closed).
  process.on('disconnect', () => server.forceShutdown());
  process.on('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
}

main();
