// The generated certificates in real grpc-js handshakes, in process: grpc-kit's credentials
// from files, serve()'s process-wide default for outgoing channels, and the name check.
import { channelCredentialsFromFiles, checkHealth, closeAllChannels, defaultChannelCredentials, serverCredentialsFromFiles, setDefaultChannelCredentials, startServer, type RunningServer, type TlsFiles } from '@grpc-patterns/grpc-kit';
import { useTlsFromConfig } from '@grpc-patterns/runtime/serve';
import { createLogger } from '@grpc-patterns/observability';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackIdentities } from './generate.js';
import { writeStackCertificates } from './write.js';

describe('TLS handshakes with the generated certificates', () => {
  let dir: string;
  const servers: RunningServer[] = [];
  const files = (mode: TlsFiles['mode'], name: string): TlsFiles => ({ mode, caFile: join(dir, 'ca.crt'), certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) });

  async function serve(tls: TlsFiles): Promise<RunningServer> {
    const server = await startServer({
      services: [],
      host: '127.0.0.1',
      port: 0,
      credentials: serverCredentialsFromFiles(tls),
      logger: createLogger({ service: 'tls-test', level: 'silent' }),
      shutdownGraceMs: 1_000,
      handleSignals: false,
    });
    servers.push(server);
    return server;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'certs-tls-'));
    // Plus a server certificate for a name no client here dials.
    await writeStackCertificates({ outDir: dir, identities: [...stackIdentities(), { name: 'elsewhere', dnsNames: ['elsewhere.example'], ipAddresses: [], usages: ['serverAuth'] }] });
  });
  afterEach(() => setDefaultChannelCredentials(undefined));
  afterAll(async () => {
    closeAllChannels();
    await Promise.all(servers.map((s) => s.shutdown()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('mtls: useTlsFromConfig makes the service certificate the default of outgoing channels', async () => {
    const auth = await serve(files('mtls', 'auth'));
    // Plaintext is the default until a config turns TLS on.
    await expect(checkHealth(`ipv4:${auth.address}`, '', 5_000, defaultChannelCredentials())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    const orders = files('mtls', 'orders');
    const tls = useTlsFromConfig({ TLS_MODE: 'mtls', TLS_CA_FILE: orders.caFile, TLS_CERT_FILE: orders.certFile, TLS_KEY_FILE: orders.keyFile });
    expect(tls.mode).toBe('mtls');
    expect(defaultChannelCredentials()).toBe(tls.channel);
    // Built once: a second call with the same files hands out the same credentials (one channel per target).
    expect(useTlsFromConfig({ TLS_MODE: 'mtls', TLS_CA_FILE: orders.caFile, TLS_CERT_FILE: orders.certFile, TLS_KEY_FILE: orders.keyFile })).toBe(tls);
    expect(await checkHealth(`ipv4:${auth.address}`, '', 5_000, defaultChannelCredentials())).toBe('SERVING');
    // The certificate also names localhost: a DNS target verifies as well.
    expect(await checkHealth(`dns:///localhost:${auth.port}`, '', 5_000, tls.channel)).toBe('SERVING');
  });

  it('the client checks the name it dialled and the serverAuth purpose of the server certificate', async () => {
    const trusting = channelCredentialsFromFiles({ mode: 'tls', caFile: join(dir, 'ca.crt') });
    const failure = async (server: RunningServer, credentials: grpc.ChannelCredentials) => {
      const error = await checkHealth(`ipv4:${server.address}`, '', 5_000, credentials).catch((e: grpc.ServiceError) => e);
      expect(error).toMatchObject({ code: grpc.status.UNAVAILABLE });
      return (error as grpc.ServiceError).details;
    };
    const elsewhere = await serve(files('tls', 'elsewhere'));
    expect(await failure(elsewhere, trusting)).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
    // Without the dev CA, Node's public roots do not trust it at all.
    expect(await failure(elsewhere, grpc.credentials.createSsl(null))).toMatch(/self-signed certificate in certificate chain/);
    // The client identity's certificate is clientAuth only: no server can use it.
    expect(await failure(await serve(files('tls', 'client')), trusting)).toMatch(/unsuitable certificate purpose/);
  });

  it('tls: a client with the CA and no certificate is served', async () => {
    const metrics = await serve(files('tls', 'metrics'));
    const caOnly = channelCredentialsFromFiles({ mode: 'tls', caFile: join(dir, 'ca.crt') });
    expect(await checkHealth(`ipv4:${metrics.address}`, '', 5_000, caOnly)).toBe('SERVING');
  });
});
