/**
 * A minimal grpc.reflection.v1 client (the protocol `buf curl`, grpcurl and grpcui speak;
 * grpc/grpc `doc/server-reflection.md`), used by tests to check what a server exposes.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { dirname, join } from 'node:path';

const protoFile = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

type ReflectionStub = grpc.Client & {
  serverReflectionInfo(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
};

export const ServerReflectionClient = {
  /** Full names of the services the server at `target` lists through reflection. */
  async listServices(target: string): Promise<string[]> {
    const pkg = grpc.loadPackageDefinition(loadSync(protoFile, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (t: string, c: grpc.ChannelCredentials) => ReflectionStub } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(target, grpc.credentials.createInsecure());
    try {
      const call = client.serverReflectionInfo();
      const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
        call.once('data', resolve);
        call.once('error', reject);
      });
      call.write({ list_services: '' });
      const message = await reply;
      call.end();
      const list = message.list_services_response as { service: Array<{ name: string }> };
      return list.service.map((s) => s.name);
    } finally {
      client.close();
    }
  },
};
