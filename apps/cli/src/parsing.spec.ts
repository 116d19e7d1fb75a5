// Unit tests of option parsing and target resolution: what is rejected before any call, and
// the one line that names the problem.
import { ConfigError } from '@grpc-patterns/config';
import { InvalidArgumentError } from 'commander';
import { airportCode, integer, isoDate, isoMonth, monthRange, nonEmpty } from './args.js';
import { resolveTargets, resolveTls } from './config.js';
import { formatOfFile, parseTime, parseValue } from './points.js';

function rejection(parse: (v: string) => unknown, value: string): string {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe('option parsers', () => {
  it('integer() accepts whole numbers in range and names the range otherwise', () => {
    const parse = integer(0, 10_000);
    expect(parse('0')).toBe(0);
    expect(parse(' 10000 ')).toBe(10_000);
    expect(integer(-5, 5)('-5')).toBe(-5);
    for (const bad of ['-1', '10001', '1.5', 'ten', '', '1e3']) expect(rejection(parse, bad)).toBe('must be a whole number from 0 to 10000');
  });

  it('airportCode() upper-cases IATA codes and rejects anything else', () => {
    expect(airportCode('sfo')).toBe('SFO');
    expect(airportCode(' JFK ')).toBe('JFK');
    for (const bad of ['SF', 'SFOO', 'S-O', '']) expect(rejection(airportCode, bad)).toBe('must be a 3-character IATA airport code such as SFO');
  });

  it('isoDate() accepts existing calendar days only', () => {
    expect(isoDate('2001-03-01')).toBe('2001-03-01');
    expect(isoDate('2000-02-29')).toBe('2000-02-29');
    expect(rejection(isoDate, '2001-02-29')).toBe('must be a date YYYY-MM-DD that exists');
    expect(rejection(isoDate, '2001-13-01')).toBe('must be a date YYYY-MM-DD that exists');
    expect(rejection(isoDate, '2001-3-1')).toBe('must be a date YYYY-MM-DD');
    expect(rejection(isoDate, '01/03/2001')).toBe('must be a date YYYY-MM-DD');
  });

  it('isoMonth() and monthRange() give the [first day, first day of next month) range', () => {
    expect(isoMonth('2001-03')).toBe('2001-03');
    expect(rejection(isoMonth, '2001-13')).toBe('must be a month YYYY-MM');
    expect(rejection(isoMonth, '2001-3')).toBe('must be a month YYYY-MM');
    expect(monthRange('2001-03')).toEqual({ from: '2001-03-01', to: '2001-04-01' });
    expect(monthRange('2001-12')).toEqual({ from: '2001-12-01', to: '2002-01-01' });
  });

  it('nonEmpty() trims and rejects blank values', () => {
    expect(nonEmpty(' a ')).toBe('a');
    expect(rejection(nonEmpty, '   ')).toBe('must not be empty');
  });
});

describe('resolveTargets', () => {
  it('defaults to the local ports 50051..50055', () => {
    expect(resolveTargets({}, {})).toEqual({
      auth: 'ipv4:127.0.0.1:50051',
      analytics: 'ipv4:127.0.0.1:50052',
      metrics: 'ipv4:127.0.0.1:50053',
      chat: 'ipv4:127.0.0.1:50054',
      orders: 'ipv4:127.0.0.1:50055',
    });
  });

  it('takes the environment, and an option over the environment', () => {
    const targets = resolveTargets({ chatTarget: 'dns:///chat:50054' }, { AUTH_TARGET: 'auth:50051', CHAT_TARGET: 'ipv4:10.0.0.1:1' });
    expect(targets.auth).toBe('auth:50051');
    expect(targets.chat).toBe('dns:///chat:50054');
    expect(targets.orders).toBe('ipv4:127.0.0.1:50055');
  });

  it('names the bad variable, and the option when the value came from one', () => {
    expect(() => resolveTargets({}, { METRICS_TARGET: 'not a target' })).toThrow(ConfigError);
    expect(() => resolveTargets({}, { METRICS_TARGET: 'not a target' })).toThrow(/^METRICS_TARGET: must be a gRPC target URI .*\(got "not a target"\)$/);
    expect(() => resolveTargets({ ordersTarget: 'x y' }, {})).toThrow(/^ORDERS_TARGET \(--orders-target\): must be a gRPC target URI/);
  });
});

describe('points file parsing', () => {
  it('tells the format from the extension', () => {
    expect(formatOfFile('a.csv')).toBe('csv');
    expect(formatOfFile('a.JSONL')).toBe('jsonl');
    expect(formatOfFile('a.ndjson')).toBe('jsonl');
    expect(formatOfFile('a.txt')).toBeUndefined();
  });

  it('reads ISO times (no offset = UTC) and epoch milliseconds; anything else is left unset', () => {
    expect(parseTime('2001-03-01T08:00:00')?.toISOString()).toBe('2001-03-01T08:00:00.000Z');
    expect(parseTime('2001-03-01T08:00:00+02:00')?.toISOString()).toBe('2001-03-01T06:00:00.000Z');
    expect(parseTime(983433600000)?.toISOString()).toBe('2001-03-01T08:00:00.000Z');
    expect(parseTime('983433600000')?.toISOString()).toBe('2001-03-01T08:00:00.000Z');
    expect(parseTime('yesterday')).toBeUndefined();
    expect(parseTime('')).toBeUndefined();
  });

  it('sends values that are not numbers as NaN, for the server to reject', () => {
    expect(parseValue('12.5')).toBe(12.5);
    expect(parseValue(-3)).toBe(-3);
    expect(parseValue('abc')).toBeNaN();
    expect(parseValue('')).toBeNaN();
  });
});

describe('resolveTls', () => {
  it('is plaintext without settings, tls from TLS_MODE alone (public roots)', () => {
    expect(resolveTls({}, {})).toMatchObject({ mode: 'off' });
    expect(resolveTls({}, { TLS_MODE: 'tls' })).toEqual({ mode: 'tls', caFile: undefined, certFile: undefined, keyFile: undefined });
  });

  it('names the option and its variable when a file cannot be read', () => {
    expect(() => resolveTls({ tlsCa: '/nonexistent/ca.crt' }, {})).toThrow('TLS_CA_FILE (--tls-ca): must be a readable file (ENOENT) (got "/nonexistent/ca.crt")');
    expect(() => resolveTls({}, { TLS_CA_FILE: '/nonexistent/ca.crt' })).toThrow(/^TLS_CA_FILE: must be a readable file/);
  });

  it('asks for the client certificate and key in mtls, and rejects an unknown mode', () => {
    expect(() => resolveTls({}, { TLS_MODE: 'mtls' })).toThrow(ConfigError);
    expect(() => resolveTls({}, { TLS_MODE: 'mtls' })).toThrow('TLS_CERT_FILE: is required when TLS_MODE=mtls');
    expect(() => resolveTls({}, { TLS_MODE: 'on' })).toThrow('TLS_MODE: must be one of off, tls, mtls (got "on")');
  });
});
