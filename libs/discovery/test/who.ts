/**
 * A one-method test service, `test.v1.Who/Who`, that answers with the replica's id: enough to
 * see which replica a load-balancing policy picked. Hand-written definition (strings as UTF-8
 * bytes) so the discovery tests depend on no generated proto.
 */
import { startTestServer, grpc, type TestServer } from '@grpc-patterns/testing';

const utf8 = {
  serialize: (value: string) => Buffer.from(value, 'utf8'),
  deserialize: (bytes: Buffer) => bytes.toString('utf8'),
};

export const WHO_SERVICE = 'test.v1.Who';

export const whoDefinition: grpc.ServiceDefinition = {
  who: {
    path: `/${WHO_SERVICE}/Who`,
    originalName: 'Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: utf8.serialize,
    requestDeserialize: utf8.deserialize,
    responseSerialize: utf8.serialize,
    responseDeserialize: utf8.deserialize,
  },
};

export const WhoClient = grpc.makeGenericClientConstructor(whoDefinition, 'Who');
export type WhoClient = InstanceType<typeof WhoClient>;

/** A started replica answering `id`, after `delayMs` (default 0) so calls are in flight for a while. */
export async function startReplica(id: string, delayMs = 0): Promise<TestServer> {
  return startTestServer({
    services: [
      {
        name: WHO_SERVICE,
        definition: whoDefinition,
        implementation: {
          who: (_call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => (delayMs > 0 ? setTimeout(() => callback(null, id), delayMs) : callback(null, id)),
        },
      },
    ],
    logLevel: 'silent',
  });
}

/** A client on its own channel to `target`, with `serviceConfig` (default round_robin). */
export function whoClient(target: string, serviceConfig: object = { loadBalancingConfig: [{ round_robin: {} }] }): WhoClient {
  return new WhoClient(target, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify(serviceConfig),
    // A channel of its own per client: tests must not share subchannel state.
    'grpc.use_local_subchannel_pool': 1,
  });
}

/** One Who call; resolves with the replica id. */
export function who(client: WhoClient, options: { metadata?: grpc.Metadata; deadlineMs?: number; waitForReady?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const callOptions: grpc.CallOptions = { deadline: Date.now() + (options.deadlineMs ?? 5_000) };
    const metadata = options.metadata ?? new grpc.Metadata();
    // grpc-js takes per-call wait-for-ready as a metadata option.
    if (options.waitForReady) metadata.setOptions({ waitForReady: true });
    (client as unknown as { who: (req: string, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: string) => void) => void }).who(
      'who?',
      metadata,
      callOptions,
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
}

/** `total` calls, `concurrency` at a time; returns calls per replica id. */
export async function countCalls(client: WhoClient, total: number, options: { concurrency?: number; metadata?: () => grpc.Metadata } = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let started = 0;
  const worker = async () => {
    while (started < total) {
      started += 1;
      const id = await who(client, { metadata: options.metadata?.() });
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker));
  return counts;
}

/** Calls until every id in `ids` has answered and none outside it (the channel follows the registry); rejects after `timeoutMs`. Resolves with the ms it took. */
export async function waitForExactly(client: WhoClient, ids: string[], timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  const want = [...ids].sort().join(',');
  let seen = '';
  while (Date.now() - started < timeoutMs) {
    const window = new Set<string>();
    for (let i = 0; i < ids.length * 4; i++) {
      try {
        window.add(await who(client, { deadlineMs: 1_000, waitForReady: true }));
      } catch {
        window.add('(error)');
      }
    }
    seen = [...window].sort().join(',');
    if (seen === want) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`after ${timeoutMs} ms calls still reach [${seen}], want [${want}]`);
}

/** Polls `check` every 25 ms until it returns true; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
