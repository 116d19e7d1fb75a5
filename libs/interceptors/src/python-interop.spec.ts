// A rich error read by a client that is not ours: Debian's python3-grpcio
// (tools/interop/python/rich_errors.py) calls a server running the validation and rate-limit
// interceptors and decodes google.rpc.BadRequest and RetryInfo from grpc-status-details-bin
// with googleapis' own status.proto and error_details.proto.
import { closeAllChannels, GrpcError, unary } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { grpc, repoRoot, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { memoryLimiter } from '../test/four-shapes.js';
import { rateLimitInterceptor } from './rate-limit.js';
import { ValidationRegistry, validationInterceptor } from './validation.js';

const execFileAsync = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'tools', 'interop', 'python', 'rich_errors.py');

// Under CI a missing tool fails the suite; elsewhere the suite is skipped with the reason.
const probe = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
const pythonReady = probe.status === 0;
const mustRun = process.env.CI === 'true';
if (!pythonReady && !mustRun) {
  console.warn(`python-interop skipped: ${PYTHON} with grpcio and protobuf is not available (${probe.error?.message ?? probe.stderr.trim()}); apt-get install python3-grpcio python3-protobuf`);
}
const describeInterop = pythonReady || mustRun ? describe : describe.skip;

/** googleapis' status.proto and error_details.proto (google-proto-files), staged alone and built with buf. */
function buildGoogleRpcDescriptors(dir: string): string {
  const googleapis = join(dirname(require.resolve('google-proto-files/package.json')), 'google', 'rpc');
  const staged = join(dir, 'protos');
  mkdirSync(join(staged, 'google', 'rpc'), { recursive: true });
  for (const file of ['status.proto', 'error_details.proto']) copyFileSync(join(googleapis, file), join(staged, 'google', 'rpc', file));
  const out = join(dir, 'google-rpc.binpb');
  const built = spawnSync(join(repoRoot, 'node_modules', '.bin', 'buf'), ['build', staged, '--as-file-descriptor-set', '-o', out], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`buf build failed: ${built.stderr}`);
  return out;
}

const getUserRequest = (userId: string) => Buffer.from(authV1.GetUserRequest.encode({ userId }).finish()).toString('hex');

describeInterop('rich errors read by the Python grpcio client', () => {
  let server: TestServer;
  let dir: string;
  let descriptors: string;

  beforeAll(async () => {
    if (!pythonReady) throw new Error(`CI=true but ${PYTHON} with grpcio and protobuf is missing: ${probe.error?.message ?? probe.stderr}`);
    dir = mkdtempSync(join(tmpdir(), 'rich-errors-'));
    descriptors = buildGoogleRpcDescriptors(dir);
    const notUsed = unary(async () => {
      throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
    });
    const auth: authV1.AuthServiceServer = {
      register: notUsed,
      login: notUsed,
      refresh: notUsed,
      getPublicKeys: notUsed,
      getUser: unary(async (call) => authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId } })),
    };
    const rules = new ValidationRegistry().add(authV1.AuthServiceService.getUser, (r) => (r.userId === '' ? [{ field: 'user_id', description: 'must not be empty' }] : []));
    server = await startTestServer({
      services: [{ name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth }],
      // the documented order: rate limit before validation (a flood of bad requests is limited too)
      interceptors: [rateLimitInterceptor({ limiter: memoryLimiter(2) }), validationInterceptor(rules)],
    });
  });
  afterAll(async () => {
    await server?.close();
    closeAllChannels();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decodes BadRequest field violations and the RetryInfo delay', async () => {
    const path = '/auth.v1.AuthService/GetUser';
    const { stdout } = await execFileAsync(PYTHON, [
      SCRIPT,
      '--target',
      server.running.address,
      '--descriptors',
      descriptors,
      '--call',
      `${path}=${getUserRequest('')}`,
      '--call',
      `${path}=${getUserRequest('u1')}`,
      '--call',
      `${path}=${getUserRequest('u1')}`,
    ]);
    const [invalid, ok, limited] = JSON.parse(stdout) as Array<Record<string, unknown>>;
    expect(invalid).toEqual({
      method: path,
      code: 'INVALID_ARGUMENT',
      details: 'user_id: must not be empty',
      status: { code: grpc.status.INVALID_ARGUMENT, message: 'user_id: must not be empty' },
      fieldViolations: [{ field: 'user_id', description: 'must not be empty' }],
      retryDelayMs: null,
      pushbackMs: null,
      otherDetails: [],
    });
    expect(ok).toMatchObject({ code: 'OK' });
    expect(limited).toEqual({
      method: path,
      code: 'RESOURCE_EXHAUSTED',
      details: 'rate limit exceeded',
      status: { code: grpc.status.RESOURCE_EXHAUSTED, message: 'rate limit exceeded' },
      fieldViolations: null,
      retryDelayMs: limited?.pushbackMs,
      pushbackMs: expect.any(Number),
      otherDetails: [],
    });
    // the 60 s window has just started: the wait is more than 0 and at most 60 s
    expect(limited?.retryDelayMs).toBeGreaterThan(0);
    expect(limited?.retryDelayMs).toBeLessThanOrEqual(60_000);
  });
});
