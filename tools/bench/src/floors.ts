/**
 * The floor of each interceptor: what the library call at the heart of its concern costs on its
 * own, measured in the chain process (same logger, tracer provider, key set, limiter, policy and
 * validator as the chain), so the chain table can say how much of a layer's cost is the concern
 * itself and how much is the interceptor around it. CPU time (process.cpuUsage) per operation,
 * µs, after a warm-up; asynchronous work the operation starts (the log write, the span export)
 * is awaited and counted.
 */
import { randomUUID } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { ACCESS_TOKEN_TYP, DEFAULT_HANDLING_BUCKETS, DEFAULT_POLICY, evaluatePolicy, metadataGetter, createTokenVerifier, type KeySource, type Limiter, type ValidationRegistry } from '@grpc-patterns/interceptors';
import type { Logger, Tracing } from '@grpc-patterns/observability';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { Counter, Histogram, Registry } from 'prom-client';

/** One measured floor: the chain layer it belongs to, the work measured, CPU µs per call. */
export interface Floor {
  layer: string;
  work: string;
  usPerCall: number;
}

/** What the floors are measured with: the chain process' own objects. */
export interface FloorDeps {
  logger: Logger;
  tracing: Tracing;
  /** The key source of the chain's auth layer (a verifier of its own is built on it). */
  keySource: KeySource;
  token: string;
  limiter: Limiter;
  validation: ValidationRegistry;
  getUserPath: string;
  userId: string;
  /** The public key the token verifies against, and the claims the verifier requires. */
  jwk: JWK;
  issuer: string;
  audience: string;
}

const ITERATIONS = 20_000;
const WARM_UP = 2_000;

/** CPU µs per iteration of `op`, `batch` at a time with `settle()` awaited after each batch (and counted). */
async function cpuPerOp(op: (i: number) => unknown, settle: () => Promise<unknown> = async () => undefined, batch = ITERATIONS, iterations = ITERATIONS): Promise<number> {
  for (let i = 0; i < Math.min(WARM_UP, iterations); i++) await op(i);
  await settle();
  const before = process.cpuUsage();
  for (let done = 0; done < iterations; done += batch) {
    for (let i = done; i < Math.min(iterations, done + batch); i++) {
      const result = op(i);
      if (result instanceof Promise) await result;
    }
    await settle();
  }
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / iterations) * 100) / 100;
}

/** Measures every floor, one after the other. */
export async function measureFloors(deps: FloorDeps): Promise<Floor[]> {
  const floors: Floor[] = [];
  const add = async (layer: string, work: string, us: Promise<number>) => floors.push({ layer, work, usPerCall: await us });
  const storage = new AsyncLocalStorage<object>();
  const store = {};
  await add('recovery', 'three AsyncLocalStorage scopes (metadata, message, half-close)', cpuPerOp(() => {
    storage.run(store, () => 0);
    storage.run(store, () => 0);
    storage.run(store, () => 0);
  }));
  await add('recovery', 'for comparison: an AbortController created and aborted (the eager call signal before it was made lazy)', cpuPerOp(() => new AbortController().abort({ code: 0 })));

  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${deps.token}`);
  const tracer = trace.getTracer('bench-floor');
  // Spans in batches of 500 (the BatchSpanProcessor's queue holds 2048), each batch exported.
  await add('tracing', 'W3C extract, a SERVER span with 5 attributes, status attribute, end, OTLP export', cpuPerOp(() => {
    const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
    const span = tracer.startSpan('auth.v1.AuthService/GetUser', { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': 'auth.v1.AuthService', 'rpc.method': 'GetUser', 'network.peer.address': '127.0.0.1', 'network.peer.port': 50000 } }, parent);
    context.with(trace.setSpan(parent, span), () => 0);
    span.setAttribute('rpc.grpc.status_code', 0);
    span.end();
  }, () => deps.tracing.forceFlush(), 500));

  const registry = new Registry();
  const labels = ['grpc_type', 'grpc_service', 'grpc_method'];
  const counter = (name: string, labelNames = labels) => new Counter({ name, help: name, labelNames, registers: [registry] });
  const started = counter('floor_started_total');
  const received = counter('floor_received_total');
  const sent = counter('floor_sent_total');
  const handled = counter('floor_handled_total', [...labels, 'grpc_code']);
  const handling = new Histogram({ name: 'floor_handling_seconds', help: 'h', labelNames: labels, buckets: DEFAULT_HANDLING_BUCKETS, registers: [registry] });
  await add('metrics', 'prom-client: 4 labelled counter increments and 1 histogram observation', cpuPerOp(() => {
    const l = { grpc_type: 'unary', grpc_service: 'auth.v1.AuthService', grpc_method: 'GetUser' };
    started.inc(l);
    received.inc(l);
    sent.inc(l);
    handled.inc({ ...l, grpc_code: 'OK' });
    handling.observe(l, 0.0001);
  }));

  const flushLog = () => new Promise<void>((done) => setImmediate(done));
  await add('logging', 'pino: one "finished call" line of 9 fields at info, written to the pipe', cpuPerOp(() => {
    deps.logger.info({ 'grpc.method': deps.getUserPath, 'grpc.service': 'auth.v1.AuthService', 'grpc.type': 'unary', 'grpc.code': 'OK', peer: '127.0.0.1:50000', duration_ms: 0.123, request_id: '0b6c4cde-8d3c-4b4c-9e0b-2f3d4c5b6a79', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', user: deps.userId }, 'finished call');
  }, flushLog, 1_000));

  await add('request id', 'a UUID v4 and two Metadata.set', cpuPerOp(() => {
    const md = new grpc.Metadata();
    const id = randomUUID();
    md.set('x-request-id', id);
    md.set('x-request-id', id);
  }));
  await add('deadline', 'a timer armed and cleared', cpuPerOp(() => clearTimeout(setTimeout(() => undefined, 10_000).unref())));

  const verifier = createTokenVerifier({ keySource: deps.keySource });
  await verifier.verify(deps.token);
  await add('auth', 'the verified-token cache answering (LRU get, exp check, copy)', cpuPerOp(() => verifier.verifyCached?.(deps.token)));
  const keySet = createLocalJWKSet({ keys: [deps.jwk] });
  const verifyOptions = { algorithms: ['ES256'], typ: ACCESS_TOKEN_TYP, issuer: deps.issuer, audience: deps.audience };
  await add('auth', 'for comparison: ES256 verification with jose, as on a cache miss (what the cache saves)', cpuPerOp(() => jwtVerify(deps.token, keySet, verifyOptions), undefined, 500, 2_000));

  const user = { id: deps.userId, roles: ['user'] };
  await add('authz', 'evaluating the default policy (A43 shape) for one path', cpuPerOp(() => evaluatePolicy(DEFAULT_POLICY, user, deps.getUserPath)));
  await add('rate limit', 'rate-limiter-flexible: one consume from the in-memory token bucket (a promise)', cpuPerOp(() => deps.limiter.limit({ principal: `user:${deps.userId}`, path: deps.getUserPath })));
  const validate = deps.validation.get(deps.getUserPath);
  await add('validation', 'the registry lookup and the GetUser validator', cpuPerOp(() => deps.validation.get(deps.getUserPath) === validate && validate?.({ userId: deps.userId })));
  return floors;
}
