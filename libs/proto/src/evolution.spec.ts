// The worked example of docs/proto-versioning.md: auth.v1 evolved compatibly (User gains
// `string email = 7`, number 6 reserved; GetUserRequest gains `bool include_email = 2`), checked
// by proto-check, then called both ways over real grpc-js HTTP/2: today's generated (ts-proto)
// client against a server of the new schema, and a client of the new schema against a server
// built from today's generated service definition.
import * as grpc from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authV1 } from './index.js';

const root = join(__dirname, '..', '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');

/** auth.v1 with the compatible additions, as grpc-js service definitions from its descriptor set. */
function evolvedAuth(): { service: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor; check: ReturnType<typeof spawnSync> } {
  const dir = mkdtempSync(join(tmpdir(), 'proto-evolved-'));
  try {
    cpSync(join(root, 'proto'), dir, { recursive: true, filter: (src) => !src.includes('releases') });
    const file = join(dir, 'auth', 'v1', 'auth.proto');
    const source = readFileSync(file, 'utf8')
      .replace('  google.protobuf.Timestamp create_time = 5;\n}', '  google.protobuf.Timestamp create_time = 5;\n  reserved 6;\n  // Contact address, set when GetUserRequest.include_email is true.\n  string email = 7;\n}')
      .replace('message GetUserRequest {\n  string user_id = 1;\n}', 'message GetUserRequest {\n  string user_id = 1;\n  // Also return User.email.\n  bool include_email = 2;\n}');
    writeFileSync(file, source);
    const check = spawnSync(process.execPath, [join(root, 'libs', 'proto', 'scripts', 'proto-check.mjs'), dir], { cwd: root, encoding: 'utf8' });
    const set = execFileSync(buf, ['build', dir, '--as-file-descriptor-set', '-o', '-'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const definition = loadFileDescriptorSetFromBuffer(set, { longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { auth: { v1: { AuthService: grpc.ServiceClientConstructor } } };
    return { service: pkg.auth.v1.AuthService.service, Client: pkg.auth.v1.AuthService, check };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one handler type for both schemas' message shapes
type AnyUnary = grpc.handleUnaryCall<any, any>;

async function serve(service: grpc.ServiceDefinition, getUser: AnyUnary): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  const fail: grpc.handleUnaryCall<unknown, unknown> = (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED });
  server.addService(service, { register: fail, login: fail, refresh: fail, getPublicKeys: fail, getUser, Register: fail, Login: fail, Refresh: fail, GetPublicKeys: fail, GetUser: getUser });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, address: `127.0.0.1:${port}` };
}

const USER = { id: '7c0e7f64-5a43-4b8f-9d55-3f1d2b7c9a10', username: 'ada', displayName: 'Ada', roles: ['user'] };

describe('a compatible evolution of auth.v1 (docs/proto-versioning.md)', () => {
  const evolved = evolvedAuth();
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  it('passes proto:check against the released image', () => {
    expect(evolved.check.status).toBe(0);
  });

  it("old generated client -> new server: the new request field is absent (default), the new response field is skipped", async () => {
    let seen: { user_id: string; include_email: boolean } | undefined; // proto-loader keeps proto field names
    const { server, address } = await serve(evolved.service, (call, cb) => {
      seen = call.request;
      cb(null, { user: { id: USER.id, username: USER.username, display_name: USER.displayName, roles: USER.roles, email: 'ada@example.com' } });
    });
    servers.push(server);
    const client = new authV1.AuthServiceClient(address, grpc.credentials.createInsecure());
    const response = await new Promise<authV1.GetUserResponse>((resolve, reject) => client.getUser({ userId: USER.id }, (e, r) => (e ? reject(e) : resolve(r))));
    client.close();
    expect(seen).toEqual({ user_id: USER.id, include_email: false });
    expect(response.user).toEqual({ ...USER, createTime: undefined });
  });

  it('new client -> old server (generated service definition): the new request field is ignored, the new response field reads as its default', async () => {
    let seen: authV1.GetUserRequest | undefined;
    const { server, address } = await serve(authV1.AuthServiceService, (call, cb) => {
      seen = call.request;
      cb(null, { user: USER });
    });
    servers.push(server);
    const client = new evolved.Client(address, grpc.credentials.createInsecure()) as unknown as {
      GetUser: (r: object, cb: (e: grpc.ServiceError | null, r: { user: Record<string, unknown> }) => void) => void;
      close: () => void;
    };
    const response = await new Promise<{ user: Record<string, unknown> }>((resolve, reject) => client.GetUser({ user_id: USER.id, include_email: true }, (e, r) => (e ? reject(e) : resolve(r))));
    client.close();
    expect(seen).toEqual({ userId: USER.id });
    expect(response.user).toMatchObject({ id: USER.id, username: 'ada', display_name: 'Ada', roles: ['user'], email: '' });
  });
});
