import { Writable } from 'node:stream';
import { createLogger } from './index.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _e, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'svc', level: 'info', destination }) };
}

describe('createLogger', () => {
  it('writes one JSON line with service, level name and ISO time', () => {
    const { lines, logger } = capture();
    logger.info({ method: '/auth.v1.AuthService/Login' }, 'done');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'svc', level: 'info', method: '/auth.v1.AuthService/Login', msg: 'done' });
    expect(String(lines[0].time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('redacts credentials even when a caller passes them by mistake', () => {
    const { lines, logger } = capture();
    logger.info({ password: 'hunter22', request: { password: 'x', accessToken: 'eyJ' }, authorization: 'Bearer eyJ' }, 'oops');
    const text = JSON.stringify(lines[0]);
    expect(text).not.toMatch(/hunter22|eyJ/);
    expect(lines[0].password).toBe('[redacted]');
  });
});
