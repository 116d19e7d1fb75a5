// The generated certificates checked with OpenSSL (node:crypto), not with the library that
// made them: SANs, key usages, chain, validity, key files' modes, idempotency.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_VALIDITY_DAYS, LEAF_VALIDITY_DAYS, createCa, issueCertificate, loadCa, stackIdentities, verifyChain } from './generate.js';
import { writeStackCertificates } from './write.js';

const DAY_MS = 86_400_000;

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('createCa / issueCertificate', () => {
  it('issues a P-256 CA and leaves with the SANs, key usages and validity docs/tls.md lists', async () => {
    const ca = await createCa();
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('CN=grpc-patterns dev CA');
    expect(caCert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    const caDays = (Date.parse(caCert.validTo) - Date.parse(caCert.validFrom)) / DAY_MS;
    expect(Math.round(caDays)).toBe(CA_VALIDITY_DAYS);

    const orders = stackIdentities('shop').find((i) => i.name === 'orders');
    if (!orders) throw new Error('no orders identity');
    const issued = await issueCertificate(ca, orders);
    const leaf = new X509Certificate(issued.certPem);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toContain('CN=orders');
    expect(leaf.subjectAltName?.split(', ')).toEqual([
      'DNS:orders',
      'DNS:orders.shop',
      'DNS:orders.shop.svc',
      'DNS:orders.shop.svc.cluster.local',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // serverAuth, clientAuth (extendedKeyUsage)
    expect(leaf.checkHost('orders')).toBe('orders');
    expect(leaf.checkHost('orders.shop.svc.cluster.local')).toBe('orders.shop.svc.cluster.local');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.checkHost('auth')).toBeUndefined();
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    const leafDays = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / DAY_MS;
    expect(leafDays).toBeGreaterThan(LEAF_VALIDITY_DAYS);
    expect(leafDays).toBeLessThan(LEAF_VALIDITY_DAYS + 1);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(Date.now());
    // The key is the certificate's.
    expect(leaf.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
    expect(issued.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('gives the client identity clientAuth only', async () => {
    const ca = await createCa();
    const client = stackIdentities().find((i) => i.name === 'client');
    if (!client) throw new Error('no client identity');
    const leaf = new X509Certificate((await issueCertificate(ca, client)).certPem);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(leaf.subjectAltName).toBe('DNS:client');
  });

  it('rejects a leaf of another CA, and a CA key that is not the certificate\'s', async () => {
    const [ca, other] = [await createCa(), await createCa()];
    const leaf = await issueCertificate(other, stackIdentities()[0]);
    expect(() => verifyChain(ca.certPem, leaf.certPem)).toThrow(/is not issued by/);
    expect(() => verifyChain(other.certPem, leaf.certPem)).not.toThrow();
    await expect(loadCa(ca.certPem, other.keyPem)).rejects.toThrow('ca.key does not belong to ca.crt');
    expect((await loadCa(ca.certPem, ca.keyPem)).certificate.subject).toContain('grpc-patterns dev CA');
  });

  // openssl is in the Debian images this runs on; without it the node:crypto checks above remain.
  (hasOpenssl() ? it : it.skip)('the chain verifies with openssl verify -purpose sslserver / sslclient', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certs-openssl-'));
    try {
      const ca = await createCa();
      const [auth, client] = [stackIdentities()[0], stackIdentities().at(-1)];
      if (!client) throw new Error('no client identity');
      writeFileSync(join(dir, 'ca.crt'), ca.certPem);
      writeFileSync(join(dir, 'auth.crt'), (await issueCertificate(ca, auth)).certPem);
      writeFileSync(join(dir, 'client.crt'), (await issueCertificate(ca, client)).certPem);
      const verify = (purpose: string, file: string) =>
        execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, 'ca.crt'), join(dir, file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(verify('sslserver', 'auth.crt')).toContain('OK');
      expect(verify('sslclient', 'client.crt')).toContain('OK');
      expect(() => verify('sslserver', 'client.crt')).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('writeStackCertificates', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'certs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the CA, five services and the client, keys 0600, and keeps them on a second run', async () => {
    const first = await writeStackCertificates({ outDir: dir });
    const names = ['ca', 'auth', 'analytics', 'metrics', 'chat', 'orders', 'client'];
    expect(first.map((r) => r.file.slice(dir.length + 1))).toEqual(names.flatMap((n) => [`${n}.crt`, `${n}.key`]));
    expect(first.every((r) => r.action === 'written')).toBe(true);
    for (const n of names) {
      expect(statSync(join(dir, `${n}.key`)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, `${n}.crt`)).mode & 0o777).toBe(0o644);
      if (n !== 'ca') verifyChain(readFileSync(join(dir, 'ca.crt'), 'utf8'), readFileSync(join(dir, `${n}.crt`), 'utf8'));
    }
    const before = readFileSync(join(dir, 'auth.crt'), 'utf8');

    const second = await writeStackCertificates({ outDir: dir });
    expect(second.every((r) => r.action === 'kept')).toBe(true);
    expect(readFileSync(join(dir, 'auth.crt'), 'utf8')).toBe(before);

    // A missing certificate is issued by the CA that is there; the rest are kept.
    rmSync(join(dir, 'chat.crt'));
    const third = await writeStackCertificates({ outDir: dir });
    expect(third.filter((r) => r.action === 'written').map((r) => r.file.slice(dir.length + 1))).toEqual(['chat.crt', 'chat.key']);
    verifyChain(readFileSync(join(dir, 'ca.crt'), 'utf8'), readFileSync(join(dir, 'chat.crt'), 'utf8'));

    const forced = await writeStackCertificates({ outDir: dir, force: true });
    expect(forced.every((r) => r.action === 'written')).toBe(true);
    expect(readFileSync(join(dir, 'auth.crt'), 'utf8')).not.toBe(before);
  });

  it('refuses certificates without their CA, or from another CA, unless forced', async () => {
    await writeStackCertificates({ outDir: dir });
    rmSync(join(dir, 'ca.key'));
    await expect(writeStackCertificates({ outDir: dir })).rejects.toThrow(/has certificates but no ca\.crt\/ca\.key: rerun with --force/);
    await writeStackCertificates({ outDir: dir, force: true });
    const stranger = await issueCertificate(await createCa(), stackIdentities()[1]);
    writeFileSync(join(dir, 'analytics.crt'), stranger.certPem);
    await expect(writeStackCertificates({ outDir: dir })).rejects.toThrow(/analytics\.crt: .*is not issued by .*rerun with --force/);
  });
});
