/**
 * Shared test set-up: the auth service built exactly as main.ts builds it (config parsed from an
 * env, PGlite store in a temp DATA_DIR), served by the in-process harness, and a promise-style
 * client. Only the scrypt cost is lowered, so a test run does not spend half a second per hash.
 */
import { parseConfig } from '@grpc-patterns/config';
import { unaryCall } from '@grpc-patterns/grpc-kit';
import { authInterceptor, createTokenVerifier, staticKeySource } from '@grpc-patterns/interceptors';
import { createLogger } from '@grpc-patterns/observability';
import { authV1 } from '@grpc-patterns/proto';
import { grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createAuthService, type AuthService } from '../src/auth-service.js';
import { authConfigShape, type AuthConfig } from '../src/config.js';
import { createPasswordHasher, type PasswordHasher, type ScryptParams } from '../src/password-hasher.js';
import { openPgliteStore } from '../src/pglite-store.js';

/** 2^10 instead of 2^17: same code path, about 1 ms per hash. */
export const FAST_SCRYPT: ScryptParams = { logN: 10, r: 8, p: 1 };

/** `value`, or a thrown Error naming `what` when it is undefined or null. */
export function defined<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`${what} is missing`);
  return value;
}

/** A fresh directory under the OS temp dir. */
export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'auth-test-'));
}

/** A running auth service and a client for it. */
export interface AuthFixture {
  server: TestServer;
  service: AuthService;
  config: AuthConfig;
  /** The service's own log lines (the harness captures only the server's). */
  serviceLogs: Array<Record<string, unknown>>;
  // Responses with their message fields checked present, so tests need no `!`.
  register(request: Partial<authV1.RegisterRequest>): Promise<{ user: authV1.User }>;
  login(request: Partial<authV1.LoginRequest>): Promise<{ tokens: authV1.TokenPair; user: authV1.User }>;
  refresh(request: Partial<authV1.RefreshRequest>): Promise<{ tokens: authV1.TokenPair }>;
  /** GetUser as the holder of `accessToken` (sent as `authorization: Bearer`; none: no metadata). */
  getUser(request: Partial<authV1.GetUserRequest>, accessToken?: string): Promise<{ user: authV1.User }>;
  getPublicKeys(): Promise<authV1.GetPublicKeysResponse>;
  /** Stops the server, then closes the store (afterStop), as SIGTERM does. */
  close(): Promise<void>;
}

/** Options of {@link startAuth}. */
export interface StartAuthOptions {
  dataDir: string;
  /** Extra environment for parseConfig (DATA_DIR is set from `dataDir`). */
  env?: Record<string, string>;
  hasher?: PasswordHasher;
  now?: () => Date;
}

/** Starts the auth service on 127.0.0.1:0 with a PGlite store in `dataDir`. */
export async function startAuth(options: StartAuthOptions): Promise<AuthFixture> {
  const config = parseConfig(authConfigShape, { ...options.env, DATA_DIR: options.dataDir });
  const serviceLogs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    service: 'auth',
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) serviceLogs.push(JSON.parse(line));
        done();
      },
    }),
  });
  const store = await openPgliteStore(config.DATA_DIR);
  const service = await createAuthService({ config, store, logger, hasher: options.hasher ?? createPasswordHasher(FAST_SCRYPT), now: options.now });
  // The auth step of the chain main.ts runs (GetUser needs a token and answers by its caller).
  const verifier = createTokenVerifier({ keySource: staticKeySource(service.verificationKeys), now: options.now ? () => (options.now as () => Date)().getTime() : undefined });
  const server = await startTestServer({ services: [service.registration], interceptors: [authInterceptor({ verifier })], afterStop: [service.close] });
  const client = server.client(authV1.AuthServiceClient);
  return {
    server,
    service,
    config,
    serviceLogs,
    async register(r) {
      const response = await unaryCall(client.register.bind(client), authV1.RegisterRequest.fromPartial(r));
      return { user: defined(response.user, 'RegisterResponse.user') };
    },
    async login(r) {
      const response = await unaryCall(client.login.bind(client), authV1.LoginRequest.fromPartial(r));
      return { tokens: defined(response.tokens, 'LoginResponse.tokens'), user: defined(response.user, 'LoginResponse.user') };
    },
    async refresh(r) {
      const response = await unaryCall(client.refresh.bind(client), authV1.RefreshRequest.fromPartial(r));
      return { tokens: defined(response.tokens, 'RefreshResponse.tokens') };
    },
    async getUser(r, accessToken) {
      const metadata = new grpc.Metadata();
      if (accessToken !== undefined) metadata.set('authorization', `Bearer ${accessToken}`);
      const response = await unaryCall(client.getUser.bind(client), authV1.GetUserRequest.fromPartial(r), { metadata });
      return { user: defined(response.user, 'GetUserResponse.user') };
    },
    getPublicKeys: () => unaryCall(client.getPublicKeys.bind(client), authV1.GetPublicKeysRequest.fromPartial({})),
    close: () => server.close(),
  };
}
