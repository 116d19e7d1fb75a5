// The subcommands for the remaining methods (Refresh, GetUser, GetPublicKeys, GetOrder,
// ListOrders), --version, --json errors with their google.rpc details, `health` on the shared
// targets, and the password prompt: in process against a real grpc-js server, and the prompt
// once more through a real pseudo-terminal (util-linux `script`) to see that nothing is echoed.
import { GrpcError, invalidArgument, unary } from '@grpc-patterns/grpc-kit';
import { authV1, ordersV1 } from '@grpc-patterns/proto';
import { grpc, repoRoot, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { plural } from './commands/lookups.js';
import type { CliContext } from './context.js';
import { BufferWriter } from './format.js';
import { CLI_VERSION, runCli } from './program.js';

const user = authV1.User.fromPartial({ id: 'u-1', username: 'ann', displayName: 'ann', roles: ['user'] });
const order = (id: string) => ordersV1.Order.fromPartial({ id, requestId: `r-${id}`, userId: 'u-1', items: [{ sku: 'beans', quantity: 2, unitPriceCents: '150' }], totalCents: '300', currency: 'USD' });
const TOKEN = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"sub":"u-1"}').toString('base64url')}.c2ln`;
const seen: { passwords: string[]; listRequests: ordersV1.ListOrdersRequest[]; authorization: string[] } = { passwords: [], listRequests: [], authorization: [] };

let server: TestServer;
let targets: string[];

beforeAll(async () => {
  const auth: authV1.AuthServiceServer = {
    register: unary(async (call) => ({ user: { ...user, username: call.request.username } })),
    login: unary(async (call) => {
      seen.passwords.push(call.request.password);
      if (call.request.password !== 'right-password') throw new GrpcError(grpc.status.UNAUTHENTICATED, 'invalid username or password');
      return { user, tokens: { accessToken: TOKEN, refreshToken: 'r1', tokenType: 'Bearer', accessTokenExpireTime: new Date(Date.now() + 900_000) } };
    }),
    refresh: unary(async (call) => {
      if (call.request.refreshToken !== 'r1') throw new GrpcError(grpc.status.UNAUTHENTICATED, 'refresh token is invalid or was already used');
      return { tokens: { accessToken: 'new.access.token', refreshToken: 'r2', tokenType: 'Bearer', accessTokenExpireTime: new Date(Date.now() + 900_000) } };
    }),
    getUser: unary(async (call) => {
      seen.authorization.push(String(call.metadata.get('authorization')[0]));
      if (call.request.userId !== 'u-1') throw new GrpcError(grpc.status.NOT_FOUND, `user ${call.request.userId} not found`);
      return { user };
    }),
    getPublicKeys: unary(async () => ({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1', alg: 'ES256', use: 'sig' }], issuer: 'grpc-patterns-auth', audience: 'grpc-patterns' })),
  };
  const orders: ordersV1.OrderServiceServer = {
    placeOrder: unary(async () => {
      throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
    }),
    getOrder: unary(async (call) => {
      if (call.request.orderId === 'bad id') throw invalidArgument('order_id', 'must be a UUID');
      return { order: order(call.request.orderId) };
    }),
    listOrders: unary(async (call) => {
      seen.listRequests.push(call.request);
      return call.request.pageToken === '' ? { orders: [order('o-1')], nextPageToken: 'p2' } : { orders: [], nextPageToken: '' };
    }),
  };
  server = await startTestServer({
    services: [
      { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth },
      { name: 'orders.v1.OrderService', definition: ordersV1.OrderServiceService, implementation: orders },
    ],
  });
  targets = ['--auth-target', server.target, '--orders-target', server.target];
});
afterAll(() => server.close());

async function cli(argv: string[], extra: Partial<CliContext> = {}): Promise<{ code: number; out: string; err: string }> {
  const out = new BufferWriter();
  const err = new BufferWriter();
  const ctx: CliContext = { out, err, env: { GRPC_PATTERNS_TOKEN: TOKEN }, stdin: new PassThrough(), outIsTTY: false, errIsTTY: false, ...extra };
  const code = await runCli([...targets, ...argv], ctx);
  return { code, out: out.text(), err: err.text() };
}

describe('a subcommand per method', () => {
  it('refresh exchanges the refresh token (no access token needed)', async () => {
    const r = await cli(['refresh', '--refresh-token', 'r1'], { env: {} });
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^new access token \(Bearer\) expires \d{4}-.*Z \(in 1[45]m \d+s\)\n$/);
    expect(await cli(['refresh', '--refresh-token', 'r1', '--print-token'], { env: {} })).toEqual({ code: 0, out: 'new.access.token\n', err: '' });
    expect(JSON.parse((await cli(['refresh', '--refresh-token', 'r1', '--json'], { env: {} })).out)).toMatchObject({ tokens: { refreshToken: 'r2' } });
  });

  it('get-user looks up the token\'s user by default, with the token on the call', async () => {
    seen.authorization.length = 0;
    expect(await cli(['get-user'])).toEqual({ code: 0, out: 'ann (id u-1, roles user)\n', err: '' });
    expect(seen.authorization).toEqual([`Bearer ${TOKEN}`]);
    expect(await cli(['get-user', '--user-id', 'u-9'])).toEqual({ code: 1, out: '', err: 'error: NOT_FOUND: user u-9 not found\n' });
  });

  it('public-keys lists the JWKS', async () => {
    expect(await cli(['public-keys'], { env: {} })).toEqual({ code: 0, out: '1 key (issuer grpc-patterns-auth, audience grpc-patterns)\n  k1  EC P-256 ES256 use=sig\n', err: '' });
  });

  it('get-order and list-orders show orders; list-orders pages with --page-token', async () => {
    const one = await cli(['get-order', '--order-id', 'o-7']);
    expect(one.code).toBe(0);
    expect(one.out).toContain('order o-7 for user u-1');
    seen.listRequests.length = 0;
    const page = await cli(['list-orders', '--page-size', '1']);
    expect(page.code).toBe(0);
    expect(page.out).toMatch(/order o-1 for user u-1[\s\S]*\n1 order; next page: --page-token p2\n$/);
    expect((await cli(['list-orders', '--page-token', 'p2'])).out).toBe('0 orders\n');
    expect(seen.listRequests.map((r) => ({ userId: r.userId, pageSize: r.pageSize, pageToken: r.pageToken }))).toEqual([
      { userId: 'u-1', pageSize: 1, pageToken: '' },
      { userId: 'u-1', pageSize: 0, pageToken: 'p2' },
    ]);
    expect(JSON.parse((await cli(['list-orders', '--json'])).out)).toMatchObject({ orders: [{ id: 'o-1' }], nextPageToken: 'p2' });
  });

  it('plurals: 1 noun, 0 and 2 nouns', () => {
    expect([plural(1, 'message'), plural(0, 'message'), plural('2', 'flight'), plural(1, 'departure delay')]).toEqual(['1 message', '0 messages', '2 flights', '1 departure delay']);
  });
});

describe('--json errors and --version', () => {
  it('with --json a failure is one JSON line: code, status name, message and the google.rpc details', async () => {
    const r = await cli(['get-order', '--order-id', 'bad id', '--json']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(JSON.parse(r.err)).toMatchObject({
      error: { code: 3, status: 'INVALID_ARGUMENT', message: 'order_id: must be a UUID', details: { fieldViolations: [{ field: 'order_id', description: 'must be a UUID' }] } },
    });
    expect(JSON.parse((await cli(['login', '--username', 'ann', '--password', 'wrong-password', '--json'])).err)).toEqual({ error: { code: 16, status: 'UNAUTHENTICATED', message: 'invalid username or password' } });
    expect(JSON.parse((await cli(['--auth-target', 'no such target', 'public-keys', '--json'])).err)).toMatchObject({ error: { status: 'CONFIG', message: expect.stringContaining('AUTH_TARGET') } });
  });

  it('--version prints apps/cli/package.json\'s version', async () => {
    expect(CLI_VERSION).toBe(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version);
    expect(await cli(['--version'])).toEqual({ code: 0, out: `${CLI_VERSION}\n`, err: '' });
  });
});

describe('health on the shared targets', () => {
  it('checks the named services at --<service>-target, and --target alone still works', async () => {
    expect(await cli(['health', 'auth', 'orders'])).toEqual({ code: 0, out: `auth.v1.AuthService at ${server.target}: SERVING\norders.v1.OrderService at ${server.target}: SERVING\n`, err: '' });
    expect(await cli(['health', '--target', server.target, '--service', 'auth.v1.AuthService'])).toEqual({ code: 0, out: `auth.v1.AuthService at ${server.target}: SERVING\n`, err: '' });
    expect(JSON.parse((await cli(['health', 'auth', '--json'])).out)).toEqual({ service: 'auth.v1.AuthService', target: server.target, status: 'SERVING' });
  });

  it('names what is not SERVING (this server has no analytics service) and exits 1', async () => {
    const r = await cli(['--analytics-target', server.target, 'health', 'auth', 'analytics', '--timeout-ms', '5000']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`auth.v1.AuthService at ${server.target}: SERVING\n`);
    expect(r.out).toMatch(/analytics\.v1\.AnalyticsService at .*: .*NOT_FOUND/);
    expect(r.err).toBe('error: 1 of 2 not SERVING: analytics.v1.AnalyticsService\n');
    expect((await cli(['health', 'payments'])).err).toBe('error: health: unknown service payments: want auth, analytics, metrics, chat, orders\n');
  });
});

describe('password', () => {
  it('without --password or GRPC_PATTERNS_PASSWORD: asked for on a terminal, refused in a script', async () => {
    seen.passwords.length = 0;
    const asked: string[] = [];
    const r = await cli(['login', '--username', 'ann'], { env: {}, readSecret: async (prompt) => (asked.push(prompt), 'right-password') });
    expect(r.code).toBe(0);
    expect(asked).toEqual(['password: ']);
    expect(seen.passwords).toEqual(['right-password']);
    expect(await cli(['login', '--username', 'ann'], { env: {} })).toEqual({ code: 1, out: '', err: 'error: no password: pass --password or set GRPC_PATTERNS_PASSWORD (on a terminal it is asked for)\n' });
    expect(seen.passwords).toEqual(['right-password']);
  });

  const cliMain = join(repoRoot, 'apps', 'cli', 'dist', 'main.js');
  const script = spawnSync('script', ['--version']).status === 0;
  (script && existsSync(cliMain) ? it : it.skip)('on a real terminal the typed password is sent and never echoed', async () => {
    seen.passwords.length = 0;
    const secret = 'right-password';
    // `script` gives the CLI a pseudo-terminal; the password is typed once the prompt shows.
    const child = spawn('script', ['-qec', `${process.execPath} ${cliMain} --auth-target ${server.target} login --username ann`, '/dev/null'], {
      env: { ...process.env, GRPC_PATTERNS_PASSWORD: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no prompt; output: ${output}`)), 30_000);
      child.stdout.on('data', (c: Buffer) => {
        output += c.toString();
        if (output.includes('password: ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.stdin.write(`${secret}\r`);
    expect(await exited).toBe(0);
    expect(output).toContain('logged in as ann');
    expect(output).not.toContain(secret);
    expect(seen.passwords).toEqual([secret]);
    child.stdin.end();
  });
});

describe('the grpc-patterns bin', () => {
  it('is a committed file (npm links it at npm ci, before dist/ exists) that runs the built CLI', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const bin = join(__dirname, '..', pkg.bin['grpc-patterns']);
    expect(bin).not.toContain(`${join('cli', 'dist')}`);
    expect(spawnSync('git', ['ls-files', '--error-unmatch', bin], { cwd: repoRoot }).status).toBe(0);
    if (existsSync(join(__dirname, '..', 'dist', 'main.js'))) expect(spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).stdout).toBe(`${CLI_VERSION}\n`);
  });
});
