/**
 * A grpc.health.v1 client (grpc/grpc `doc/health-checking.md`), for readiness waits in the
 * stack runner, tests and HEALTHCHECKs.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

type HealthStub = grpc.Client & {
  check(request: { service: string }, options: Partial<grpc.CallOptions>, callback: (error: grpc.ServiceError | null, response: { status: string }) => void): void;
};
let HealthClient: (new (target: string, credentials: grpc.ChannelCredentials) => HealthStub) | undefined;

function healthClientClass() {
  HealthClient ??= (
    grpc.loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (target: string, credentials: grpc.ChannelCredentials) => HealthStub } } };
    }
  ).grpc.health.v1.Health;
  return HealthClient;
}

/**
 * One Health.Check: resolves to "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN".
 *
 * @param service full service name, or "" for the whole server.
 * @throws grpc.ServiceError (UNAVAILABLE while nothing listens, DEADLINE_EXCEEDED after `timeoutMs`).
 */
export async function checkHealth(target: string, service = '', timeoutMs = 1_000, credentials = grpc.credentials.createInsecure()): Promise<string> {
  const Health = healthClientClass();
  const client = new Health(target, credentials);
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolve(response.status))),
    );
  } finally {
    client.close();
  }
}

/**
 * Polls Health.Check every 100 ms until it says SERVING.
 *
 * @throws Error after `timeoutMs` (default 30 000), with the last status or error seen; or as
 *   soon as `abort` fires (e.g. the process being waited for exited).
 */
export async function waitForServing(target: string, options: { service?: string; timeoutMs?: number; signal?: AbortSignal; credentials?: grpc.ChannelCredentials } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error(String(options.signal.reason));
    try {
      last = await checkHealth(target, options.service ?? '', 1_000, options.credentials);
      if (last === 'SERVING') return;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${target} not SERVING after ${options.timeoutMs ?? 30_000} ms (last: ${last})`);
}
