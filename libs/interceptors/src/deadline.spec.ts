import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { SHAPES, startShapeServer, until, type ShapeServer } from '../test/four-shapes.js';
import { deadlineInterceptor, effectiveDeadline } from './deadline.js';
import { loggingInterceptor } from './logging.js';
import { captureLogger } from '../test/four-shapes.js';

describe('deadlineInterceptor', () => {
  let server: ShapeServer;
  let log: ReturnType<typeof captureLogger>;
  beforeEach(async () => {
    log = captureLogger();
    // Small limits so the test runs fast: unary default 40 ms / max 60 ms, streams 80 / 100 ms.
    server = await startShapeServer([
      loggingInterceptor({ logger: log.logger }),
      deadlineInterceptor({ unary: { defaultMs: 40, maxMs: 60 }, stream: { defaultMs: 80, maxMs: 100 } }),
    ]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  describe.each(SHAPES)('%s', (shape) => {
    it('ends a call without a deadline at the server default with DEADLINE_EXCEEDED and cancels the handler', async () => {
      const result = await server.call(shape, { mode: 'hang' });
      expect([grpc.status[result.code], result.details]).toEqual(['DEADLINE_EXCEEDED', 'Deadline exceeded']);
      await until(() => server.observed.cancelled === 1 && log.lines.length === 1, 'handler cancelled and call logged');
      expect(log.lines[0]).toMatchObject({ 'grpc.code': 'DEADLINE_EXCEEDED', level: 'warn' });
      const ctx = server.observed.contexts[0];
      expect(ctx?.deadline).toBeGreaterThan(0);
    });

    it('caps a far deadline at the maximum and shows the effective deadline to the handler', async () => {
      const before = Date.now();
      const result = await server.call(shape, { mode: 'hang', timeoutMs: 60_000 });
      expect(grpc.status[result.code]).toBe('DEADLINE_EXCEEDED');
      const max = shape === 'unary' ? 60 : 100;
      const deadline = server.observed.contexts[0]?.deadline ?? 0;
      // The interceptor computed `now + max` between `before` and the handler's start (however
      // long the call took to get there): capped at max from arrival, not the client's 60 s.
      expect(deadline - before).toBeGreaterThanOrEqual(max);
      expect(deadline - (server.observed.startedAt[0] ?? 0)).toBeLessThanOrEqual(max);
    });

    it('lets a call that finishes in time through unchanged', async () => {
      const result = await server.call(shape, { timeoutMs: 60_000 });
      expect(grpc.status[result.code]).toBe('OK');
    });
  });

  it('computes the effective deadline: default when none, else the earlier of the client one and the cap', () => {
    const limits = { defaultMs: 10_000, maxMs: 30_000 };
    expect(effectiveDeadline(undefined, limits, 1_000)).toBe(11_000);
    expect(effectiveDeadline(5_000, limits, 1_000)).toBe(5_000);
    expect(effectiveDeadline(100_000, limits, 1_000)).toBe(31_000);
  });
});
