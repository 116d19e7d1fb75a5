import { lineFormatter } from './log-format.js';
import { devEnv, findService, parseTscLine, portOf, servingAddress } from './serve-support.js';

describe('nx serve support', () => {
  it('gives a served service the variables npm start gives it, the shell winning', () => {
    const env = devEnv(findService('orders'), '/data', { GRPC_PORT: '0', PATH: '/bin' });
    expect(env).toMatchObject({
      GRPC_PORT: '0',
      METRICS_PORT: '9105',
      DATA_DIR: '/data/orders',
      AUTH_TARGET: 'ipv4:127.0.0.1:50051',
      ORDERS_TARGET: 'ipv4:127.0.0.1:50055',
      TLS_MODE: 'off',
      PATH: '/bin',
    });
    expect(devEnv(findService('auth'), '/data', {})['GRPC_PORT']).toBe('50051');
  });

  it('names the services it knows when given another', () => {
    expect(() => findService('payments')).toThrow('unknown service "payments": want one of auth, analytics, metrics, chat, orders');
  });

  it('reads tsc --watch output: a save, a clean build, a build with errors', () => {
    expect(parseTscLine('6:15:40 PM - File change detected. Starting incremental compilation...')).toEqual({ kind: 'change' });
    expect(parseTscLine('6:15:14 PM - Starting compilation in watch mode...')).toEqual({ kind: 'other' });
    expect(parseTscLine('6:15:51 PM - Found 0 errors. Watching for file changes.')).toEqual({ kind: 'done', errors: 0 });
    expect(parseTscLine('6:15:51 PM - Found 1 error. Watching for file changes.')).toEqual({ kind: 'done', errors: 1 });
    expect(parseTscLine("src/main.ts(3,1): error TS2304: Cannot find name 'x'.")).toEqual({ kind: 'other' });
  });

  it('finds the bound port in the "serving" log line only', () => {
    expect(servingAddress('{"level":"info","address":"0.0.0.0:45369","services":["metrics.v1.MetricsService"],"msg":"serving"}')).toBe('0.0.0.0:45369');
    expect(servingAddress('{"level":"info","url":"http://127.0.0.1:9/metrics","msg":"metrics endpoint"}')).toBeUndefined();
    expect(servingAddress('{not json')).toBeUndefined();
    expect(portOf('[::]:50051')).toBe(50051);
  });

  it('renders JSON log lines with pino-pretty when asked, other lines as they are', () => {
    const pretty = lineFormatter(true);
    expect(pretty('{"level":"info","time":"2025-01-01T10:00:00.123Z","pid":3,"service":"auth","msg":"serving","address":"0.0.0.0:1"}')).toMatch(/^\[\d\d:\d\d:00\.123\] INFO: serving \{"service":"auth","address":"0\.0\.0\.0:1"\}$/);
    expect(pretty('auth: failed to start: boom')).toBe('auth: failed to start: boom');
    expect(lineFormatter(false)('{"msg":"x"}')).toBe('{"msg":"x"}');
  });
});
