/**
 * The chain scenario's servers, in one process (forked by the bench, pinned to the server
 * core): a trivial service answering from memory behind each prefix of the real server chain,
 * so what a row costs more than the one before is what its interceptor costs.
 *
 * - `bare`: a bare `grpc.Server`, no interceptors;
 * - `startServer()`: grpc-kit's startServer (health, reflection, stream tracking, and the
 *   decode-limit layer it appends to every chain), no interceptors of ours;
 * - `+ recovery` ... `+ validation`: startServer with the first k layers of
 *   `serverInterceptorLayers()` (@grpc-patterns/interceptors), the last one the full chain;
 * - {@link PASS_THROUGH_ROW}: startServer with as many layers that do nothing but pass events on.
 *
 * Every server serves the same two methods from memory:
 * - auth.v1.AuthService/GetUser: a fixed GetUserResponse (the unary rows);
 * - analytics.v1.AnalyticsService/StreamFlights: `limit` copies of a one-flight message, with
 *   grpc-kit's backpressure (wait for 'drain') (the per-stream-message rows).
 *
 * What the chain gets is what a service gets from serve(): pino at info to stdout (a pipe the
 * bench reads), OpenTelemetry with the batching OTLP/HTTP exporter to the bench's sink
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`), a prom-client registry, an ES256 key set (generated here)
 * verifying the access token this process signs and hands to the bench, the token bucket at
 * `RATE_LIMIT_RPS=1000000 RATE_LIMIT_BURST=0` (never rejects), and a validator on GetUser.
 *
 * IPC: on start `{ type: 'ready', servers: [{ name, port }], token, userId }`; `{ type:
 * 'usage' }` answers `{ type: 'usage', cpuUs, handled }` (process CPU time, µs; calls that
 * reached a handler, per server name); `{ type: 'floors' }` answers the floors (floors.ts).
 */
import { setupTracing, createLogger, createMetricsRegistry } from '@grpc-patterns/observability';
import * as grpc from '@grpc/grpc-js';
import { startServer, type RunningServer } from '@grpc-patterns/grpc-kit';
import { rateLimiterFromConfig, serverInterceptorLayers, staticKeySource, ValidationRegistry, ACCESS_TOKEN_TYP } from '@grpc-patterns/interceptors';
import { analyticsV1, authV1 } from '@grpc-patterns/proto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { PASS_THROUGH_ROW } from './chain-rows.js';
import { measureFloors, type Floor } from './floors.js';
import { waitDrain } from './measure.js';

/** Messages from the bench to this process. */
export type ChainCommand = { type: 'usage' } | { type: 'floors' };
/** Messages from this process to the bench. */
export type ChainReply =
  | { type: 'ready'; servers: Array<{ name: string; port: number }>; token: string; userId: string }
  | { type: 'usage'; cpuUs: number; handled: Record<string, number> }
  | { type: 'floors'; floors: Floor[] };

/** A layer that passes every event on and does nothing else (the shape of ours, no work). */
const passThrough: grpc.ServerInterceptor = (_method, call) =>
  new grpc.ServerInterceptingCall(call, {
    start: (next) => next({ onReceiveMetadata: (md, n) => n(md), onReceiveMessage: (msg, n) => n(msg), onReceiveHalfClose: (n) => n() }),
    sendStatus: (status, next) => next(status),
  });

const ISSUER = 'bench-chain';
const AUDIENCE = 'grpc-patterns';
const USER_ID = '00000000-0000-4000-8000-000000000001';

const send = (reply: ChainReply) => process.send?.(reply);

/** The trivial implementations, counting calls that reached them under `name`. */
function services(name: string, handled: Record<string, number>) {
  handled[name] = 0;
  const response = authV1.GetUserResponse.fromPartial({ user: { id: USER_ID, username: 'bench_chain', roles: ['user'] } });
  const message = analyticsV1.StreamFlightsResponse.fromPartial({
    flights: [{ departureTime: '2001-01-01T06:00:00Z', delayMinutes: 12, distanceMiles: 1_000, origin: 'SEA', destination: 'SFO' }],
  });
  const auth: grpc.UntypedServiceImplementation = {
    getUser(_call: grpc.ServerUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse>, callback: grpc.sendUnaryData<authV1.GetUserResponse>) {
      handled[name]++;
      callback(null, response);
    },
  };
  const analytics: grpc.UntypedServiceImplementation = {
    async streamFlights(call: grpc.ServerWritableStream<analyticsV1.StreamFlightsRequest, analyticsV1.StreamFlightsResponse>) {
      handled[name]++;
      let cancelled = false;
      call.on('cancelled', () => (cancelled = true));
      for (let sent = 0; sent < call.request.limit && !cancelled; sent++) {
        if (!call.write(message)) await waitDrain(call);
      }
      if (!cancelled) call.end();
    },
  };
  return [
    { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth },
    { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analytics },
  ];
}

async function main(): Promise<void> {
  const tracing = setupTracing({ serviceName: 'bench-chain' });
  const logger = createLogger({ service: 'bench-chain', level: 'info' });
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  const token = await new SignJWT({ token_use: 'access', roles: ['user'] })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(USER_ID)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const validation = new ValidationRegistry().add(authV1.AuthServiceService.getUser, (request) => (request.userId ? [] : [{ field: 'user_id', description: 'must not be empty' }]));
  const keySource = staticKeySource({ keys: [jwk], issuer: ISSUER, audience: AUDIENCE });
  const limits = { RATE_LIMIT_RPS: 1_000_000, RATE_LIMIT_BURST: 0 };
  const layers = serverInterceptorLayers({ logger, registry: createMetricsRegistry(), keySource, limiter: rateLimiterFromConfig(limits, logger), validation });

  const handled: Record<string, number> = {};
  const servers: Array<{ name: string; port: number }> = [];
  const running: RunningServer[] = [];

  const bare = new grpc.Server();
  for (const s of services('bare', handled)) bare.addService(s.definition, s.implementation);
  const barePort = await new Promise<number>((resolve, reject) => bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  servers.push({ name: 'bare', port: barePort });

  // startServer() alone, then each prefix of the chain: k = 0 .. layers.length.
  const rows = Array.from({ length: layers.length + 1 }, (_, k) => ({ name: k === 0 ? 'startServer()' : `+ ${layers[k - 1].name}`, interceptors: layers.slice(0, k).map((l) => l.interceptor) }));
  // As many as are layers for GetUser (the decode-limit layer is none for a method without a limit).
  rows.push({ name: PASS_THROUGH_ROW, interceptors: layers.filter((l) => l.name !== 'decode limit').map(() => passThrough) });
  for (const { name, interceptors } of rows) {
    const server = await startServer({
      services: services(name, handled),
      host: '127.0.0.1',
      port: 0,
      logger,
      shutdownGraceMs: 1_000,
      handleSignals: false,
      interceptors,
    });
    running.push(server);
    servers.push({ name, port: server.port });
  }

  process.on('message', (command: ChainCommand) => {
    if (command.type === 'usage') {
      const usage = process.cpuUsage();
      send({ type: 'usage', cpuUs: usage.user + usage.system, handled: { ...handled } });
    } else if (command.type === 'floors') {
      const deps = { logger, tracing, keySource, token, limiter: rateLimiterFromConfig(limits, logger), validation, getUserPath: authV1.AuthServiceService.getUser.path, userId: USER_ID, jwk, issuer: ISSUER, audience: AUDIENCE };
      measureFloors(deps).then(
        (floors) => send({ type: 'floors', floors }),
        (error: unknown) => {
          console.error(`chain server: floors: ${error instanceof Error ? error.stack : String(error)}`);
          process.exit(1);
        },
      );
    }
  });
  const stop = () => {
    bare.forceShutdown();
    for (const server of running) server.server.forceShutdown();
    void tracing.shutdown().finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  send({ type: 'ready', servers, token, userId: USER_ID });
}

main().catch((error: unknown) => {
  console.error(`chain server: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
