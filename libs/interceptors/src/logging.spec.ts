import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { captureLogger, PATHS, SHAPES, startShapeServer, until, type ShapeServer } from '../test/four-shapes.js';
import { callContext } from './call-context.js';
import { ERROR_LINES_PER_SECOND, loggingInterceptor, serverCodeToLevel } from './logging.js';
import { requestIdInterceptor } from './request-id.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.secret-token-payload.sig';
const PASSWORD = 'hunter2-password';

/** Stands in for the auth interceptor: puts a user into the call context. */
const fakeAuth: grpc.ServerInterceptor = (method, call) => {
  const ctx = callContext(method, call);
  return new grpc.ServerInterceptingCall(call, {
    start: (next) => next({ onReceiveMetadata: (md, n) => ((ctx.user = { id: 'user-7', roles: ['user'] }), n(md)) }),
  });
};

describe('loggingInterceptor', () => {
  let server: ShapeServer;
  let log: ReturnType<typeof captureLogger>;
  beforeEach(async () => {
    log = captureLogger();
    server = await startShapeServer([loggingInterceptor({ logger: log.logger }), requestIdInterceptor(), fakeAuth]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  it.each(SHAPES)('%s: writes one line per finished call with the documented fields and no secrets', async (shape) => {
    const secrets = { authorization: `Bearer ${TOKEN}`, 'x-password': PASSWORD, 'x-request-id': 'req-1' };
    expect(grpc.status[(await server.call(shape, { metadata: secrets })).code]).toBe('OK');
    expect(grpc.status[(await server.call(shape, { metadata: secrets, mode: 'invalid' })).code]).toBe('INVALID_ARGUMENT');
    await until(() => log.lines.length === 2, 'two lines');
    const [ok, bad] = log.lines;
    expect(Object.keys(ok).sort()).toEqual(['duration_ms', 'grpc.code', 'grpc.method', 'grpc.service', 'grpc.type', 'level', 'msg', 'peer', 'pid', 'request_id', 'service', 'time', 'user'].sort());
    expect(ok).toMatchObject({ level: 'info', msg: 'finished call', 'grpc.method': PATHS[shape], 'grpc.type': shape, 'grpc.code': 'OK', request_id: 'req-1', user: 'user-7' });
    expect(ok.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof ok.duration_ms).toBe('number');
    expect(bad).toMatchObject({ level: 'info', 'grpc.code': 'INVALID_ARGUMENT', 'grpc.error': 'name: is bad' });
    for (const line of log.text) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain('Bearer');
    }
  });

  it.each(SHAPES)('%s: logs a deadline exceeded at warn and an internal error at error', async (shape) => {
    // The server's deadline ends the call (serverTimeoutMs): with a client deadline the client's
    // cancellation races it and the server may see CANCELLED, or under load no call at all.
    expect(grpc.status[(await server.call(shape, { mode: 'hang', serverTimeoutMs: 50 })).code]).toBe('DEADLINE_EXCEEDED');
    expect(grpc.status[(await server.call(shape, { mode: 'error' })).code]).toBe('UNKNOWN');
    await until(() => log.lines.length === 2, 'two lines');
    const byCode = Object.fromEntries(log.lines.map((l) => [l['grpc.code'], l.level]));
    expect(byCode).toEqual({ DEADLINE_EXCEEDED: 'warn', UNKNOWN: 'error' });
  });

  it('maps codes to levels as documented', () => {
    const levels = Object.fromEntries(Array.from({ length: 17 }, (_, c) => [grpc.status[c], serverCodeToLevel(c)]));
    expect(levels).toEqual({
      OK: 'info', CANCELLED: 'info', UNKNOWN: 'error', INVALID_ARGUMENT: 'info', DEADLINE_EXCEEDED: 'warn', NOT_FOUND: 'info',
      ALREADY_EXISTS: 'info', PERMISSION_DENIED: 'info', RESOURCE_EXHAUSTED: 'info', FAILED_PRECONDITION: 'info', ABORTED: 'info',
      OUT_OF_RANGE: 'info', UNIMPLEMENTED: 'error', INTERNAL: 'error', UNAVAILABLE: 'warn', DATA_LOSS: 'error', UNAUTHENTICATED: 'info',
    });
  });
});

describe('loggingInterceptor sampling of non-OK lines', () => {
  afterEach(() => closeAllChannels());

  it('writes at most N lines per second per method and code, counts the rest in one summary line, and never samples OK', async () => {
    const log = captureLogger();
    const perSecond = 5;
    const server = await startShapeServer([loggingInterceptor({ logger: log.logger, errorLinesPerSecond: perSecond }), requestIdInterceptor()]);
    try {
      const started = Date.now();
      const calls = 40;
      await Promise.all(Array.from({ length: calls }, () => server.call('unary', { mode: 'invalid' })));
      await Promise.all(Array.from({ length: 20 }, () => server.call('unary')));
      const windows = Math.ceil((Date.now() - started) / 1_000) + 1;
      const summariesFor = () => log.lines.filter((l) => l.msg === 'finished call lines suppressed');
      await until(() => summariesFor().length > 0, 'a summary line', 400); // at the end of the window
      const written = log.lines.filter((l) => l.msg === 'finished call' && l['grpc.code'] === 'INVALID_ARGUMENT');
      const suppressed = summariesFor().reduce((sum, l) => sum + Number(l.suppressed), 0);
      expect(written.length).toBeLessThanOrEqual(perSecond * windows);
      expect(written.length + suppressed).toBe(calls); // every call accounted for
      expect(summariesFor()[0]).toMatchObject({ level: 'warn', 'grpc.method': PATHS.unary, 'grpc.code': 'INVALID_ARGUMENT', window_ms: 1_000 });
      expect(log.lines.filter((l) => l.msg === 'finished call' && l['grpc.code'] === 'OK')).toHaveLength(20);
    } finally {
      await server.close();
    }
  });

  it('defaults to 10 lines per second; 0 turns sampling off', async () => {
    expect(ERROR_LINES_PER_SECOND).toBe(10);
    const log = captureLogger();
    const server = await startShapeServer([loggingInterceptor({ logger: log.logger, errorLinesPerSecond: 0 }), requestIdInterceptor()]);
    try {
      await Promise.all(Array.from({ length: 30 }, () => server.call('unary', { mode: 'invalid' })));
      await until(() => log.lines.length === 30, '30 lines');
    } finally {
      await server.close();
    }
  });
});
