// Test helper: the built auth app as a child process with logged-in users, for specs that run
// chat behind the real token check (chat verifies tokens with auth's keys, AUTH_TARGET).
import { unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { authV1 } from '@grpc-patterns/proto';
import { grpc, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A registered, logged-in user: its id (the token's subject) and `authorization` metadata. */
export interface LoggedInUser {
  id: string;
  metadata: grpc.Metadata;
}

/** The running auth process and its users, by the names given to {@link startRealAuth}. */
export interface RealAuth {
  process: ServiceProcess;
  users: Record<string, LoggedInUser>;
  stop(): Promise<void>;
}

/** Starts auth on a fresh data directory and registers and logs in `names` (prefixed to be unique). */
export async function startRealAuth(names: string[], readyTimeoutMs = 90_000): Promise<RealAuth> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-auth-'));
  const auth = await spawnService({ name: 'auth', env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, readyTimeoutMs });
  const authClient = new authV1.AuthServiceClient(auth.target, grpc.credentials.createInsecure());
  const users: Record<string, LoggedInUser> = {};
  try {
    for (const name of names) {
      const credentials = { username: `${name}_${process.pid}_${Date.now() % 100_000}`.slice(0, 32), password: 'correct horse battery' };
      await unaryCallDetailed(authClient.register.bind(authClient), authV1.RegisterRequest.fromPartial({ ...credentials, displayName: name }));
      const { response } = await unaryCallDetailed(authClient.login.bind(authClient), authV1.LoginRequest.fromPartial(credentials));
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${response.tokens?.accessToken ?? ''}`);
      users[name] = { id: response.user?.id ?? '', metadata };
    }
  } finally {
    authClient.close();
  }
  return {
    process: auth,
    users,
    async stop() {
      await auth.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
