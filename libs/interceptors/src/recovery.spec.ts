import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { captureLogger, PATHS, SECRET, SHAPES, startShapeServer, until, type ShapeServer } from '../test/four-shapes.js';
import { recoveryInterceptor } from './recovery.js';

describe('recoveryInterceptor', () => {
  let server: ShapeServer;
  let log: ReturnType<typeof captureLogger>;
  /** An inner interceptor that throws while receiving metadata when asked to. */
  const throwingInterceptor: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, nextMd) => {
            if (md.get('x-interceptor-throws').length > 0) throw new Error(`interceptor ${SECRET}`);
            nextMd(md);
          },
        }),
    });

  beforeEach(async () => {
    log = captureLogger();
    server = await startShapeServer([recoveryInterceptor({ logger: log.logger }), throwingInterceptor]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  describe.each(SHAPES)('%s', (shape) => {
    it('answers a synchronous throw with INTERNAL "internal error" and logs the UNKNOWN it replaced', async () => {
      const result = await server.call(shape, { mode: 'throw' });
      expect([grpc.status[result.code], result.details]).toEqual(['INTERNAL', 'internal error']);
      await until(() => log.lines.length > 0, 'log line');
      expect(log.lines).toHaveLength(1);
      expect(log.lines[0]).toMatchObject({ level: 'error', msg: 'handler failed: UNKNOWN status replaced by INTERNAL', 'grpc.method': PATHS[shape], 'grpc.code': 'UNKNOWN', details: 'Unknown error' });
    });

    // The unhandled-rejection path (an async raw handler that rejects) is not exercised here:
    // jest sandboxes process-level 'unhandledRejection' events and fails the suite itself.

    it('replaces an UNKNOWN that would carry the error message to the client', async () => {
      const result = await server.call(shape, { mode: 'error' });
      expect([grpc.status[result.code], result.details]).toEqual(['INTERNAL', 'internal error']);
      await until(() => log.lines.length > 0, 'log line');
      expect(log.lines[0]).toMatchObject({ level: 'error', 'grpc.code': 'UNKNOWN', details: SECRET });
    });

    it('catches an exception thrown by an inner interceptor', async () => {
      const result = await server.call(shape, { metadata: { 'x-interceptor-throws': '1' } });
      expect([grpc.status[result.code], result.details]).toEqual(['INTERNAL', 'internal error']);
      expect(log.lines[0]).toMatchObject({ level: 'error', msg: 'handler failed: exception thrown', err: { message: `interceptor ${SECRET}` } });
      expect(server.observed.contexts).toHaveLength(0); // the handler never ran
    });

    it('leaves typed errors and successes alone, and the process keeps serving', async () => {
      const bad = await server.call(shape, { mode: 'invalid' });
      expect([grpc.status[bad.code], bad.details]).toEqual(['INVALID_ARGUMENT', 'name: is bad']);
      await server.call(shape, { mode: 'throw' });
      const ok = await server.call(shape);
      expect(grpc.status[ok.code]).toBe('OK');
      await until(() => log.lines.length === 1, 'one log line');
      expect(log.text.join('\n')).toContain('handler failed');
    });
  });

  it('never sends the secret to any client', async () => {
    const details: string[] = [];
    for (const shape of SHAPES) for (const mode of ['throw', 'error'] as const) details.push((await server.call(shape, { mode })).details);
    expect(new Set(details)).toEqual(new Set(['internal error']));
  });
});
