/**
 * A development certificate authority and one certificate per identity (each service, plus a
 * `client` identity for the CLI), made with @peculiar/x509 on Node's WebCrypto.
 *
 * What the certificates are, and why:
 * - keys: ECDSA P-256 (NIST curve, accepted by every TLS stack gRPC runs on), signatures
 *   ecdsa-with-SHA256;
 * - the CA: basicConstraints CA:true pathLen 0 (critical), keyUsage keyCertSign + cRLSign
 *   (critical), 5 years;
 * - a leaf: basicConstraints CA:false, keyUsage digitalSignature (what ECDHE-ECDSA needs),
 *   extendedKeyUsage serverAuth and/or clientAuth, subjectAltName with the names clients dial
 *   (RFC 6125: clients match SANs, never the CN), authority and subject key identifiers,
 *   397 days (the CA/Browser Forum's limit for public TLS certificates since 2020, kept as a sane
 *   bound for a private CA too);
 * - notBefore one hour in the past, so a container whose clock is a little behind accepts them.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SERVICE_NAMES } from '@grpc-patterns/manifest';
import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The services of the manifest, each with a certificate of the same name. */
export const SERVICES: readonly string[] = SERVICE_NAMES;

/** The identity of clients outside the stack (the CLI, grpcurl, tests). */
export const CLIENT_IDENTITY = 'client';

/** Kubernetes namespace used for the cluster DNS names unless told otherwise. */
export const DEFAULT_NAMESPACE = 'grpc-patterns';

/** Lifetime of the CA certificate, days. */
export const CA_VALIDITY_DAYS = 5 * 365;
/** Lifetime of a leaf certificate, days (CA/Browser Forum Baseline Requirements 6.3.2 limit). */
export const LEAF_VALIDITY_DAYS = 397;

const ALGORITHM: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 3_600_000;

/** What a leaf certificate is for. */
export type Usage = 'serverAuth' | 'clientAuth';

/** One certificate to issue. */
export interface Identity {
  /** File stem (`<name>.crt`, `<name>.key`) and common name. */
  name: string;
  /** DNS names in the subjectAltName. */
  dnsNames: string[];
  /** IP addresses in the subjectAltName (IPv4 or IPv6). */
  ipAddresses: string[];
  usages: Usage[];
}

/**
 * The stack's identities: each service as dialled by docker-compose, Kubernetes (`auth.<ns>`, `.svc`,
 * `.svc.cluster.local`) and this machine, with serverAuth and clientAuth (it calls other services);
 * `client`: clientAuth only. See docs/tls.md "The certificates".
 */
export function stackIdentities(namespace = DEFAULT_NAMESPACE): Identity[] {
  const local = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
  return [
    ...SERVICES.map((name) => ({
      name,
      dnsNames: [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`, ...local.dnsNames],
      ipAddresses: local.ipAddresses,
      usages: ['serverAuth', 'clientAuth'] as Usage[],
    })),
    { name: CLIENT_IDENTITY, dnsNames: [CLIENT_IDENTITY], ipAddresses: [], usages: ['clientAuth'] },
  ];
}

/** A key pair and its certificate, PEM-encoded. */
export interface IssuedPem {
  certPem: string;
  /** PKCS#8 `-----BEGIN PRIVATE KEY-----`. */
  keyPem: string;
}

/** A CA that can sign. */
export interface CertificateAuthority extends IssuedPem {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** Options of {@link createCa} and {@link issueCertificate}. */
export interface ValidityOptions {
  /** Start of validity is one hour before this; default now. */
  now?: Date;
  /** Lifetime, days. */
  days?: number;
}

/** A new self-signed CA (`CN=grpc-patterns dev CA`), {@link CA_VALIDITY_DAYS} by default. */
export async function createCa(options: ValidityOptions = {}): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { notBefore, notAfter } = validity(options, CA_VALIDITY_DAYS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'CN=grpc-patterns dev CA, O=grpc-patterns',
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, privateKey: keys.privateKey, certPem: certificate.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Loads a CA written earlier by {@link createCa}, so new leaves chain to the CA clients already trust.
 * @throws Error when the key does not belong to the certificate or is not a P-256 PKCS#8 key.
 */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(certPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALGORITHM, true, ['sign']);
  const probe = new TextEncoder().encode('grpc-patterns ca key check');
  const signature = await webcrypto.subtle.sign(ALGORITHM, privateKey, probe);
  const publicKey = await certificate.publicKey.export(ALGORITHM, ['verify']);
  if (!(await webcrypto.subtle.verify(ALGORITHM, publicKey, signature, probe))) throw new Error('ca.key does not belong to ca.crt');
  return { certificate, privateKey, certPem, keyPem };
}

/** A certificate for `identity`, signed by `ca`, {@link LEAF_VALIDITY_DAYS} by default. */
export async function issueCertificate(ca: CertificateAuthority, identity: Identity, options: ValidityOptions = {}): Promise<IssuedPem> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { notBefore, notAfter } = validity(options, LEAF_VALIDITY_DAYS);
  const names: x509.JsonGeneralNames = [
    ...identity.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...identity.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${identity.name}, O=grpc-patterns`,
    issuer: ca.certificate.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(identity.usages.map((u) => x509.ExtendedKeyUsage[u])),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return { certPem: certificate.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * Checks with node:crypto (OpenSSL) that `certPem` is issued and signed by the CA and inside its validity
 * (the tests, and every write, so a broken certificate never reaches a server).
 * @throws Error saying what does not hold.
 */
export function verifyChain(caPem: string, certPem: string, now = new Date()): void {
  const ca = new NodeX509Certificate(caPem);
  const cert = new NodeX509Certificate(certPem);
  // node:crypto gives distinguished names one attribute per line; messages are one line.
  const [subject, issuer] = [cert.subject, ca.subject].map((dn) => dn.replaceAll('\n', ', '));
  if (!cert.checkIssued(ca)) throw new Error(`${subject} is not issued by ${issuer}`);
  if (!cert.verify(ca.publicKey)) throw new Error(`${subject}: signature does not verify with the key of ${issuer}`);
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) throw new Error(`${subject}: not valid now (${cert.validFrom} .. ${cert.validTo})`);
}

function validity(options: ValidityOptions, fallbackDays: number): { notBefore: Date; notAfter: Date } {
  const now = (options.now ?? new Date()).getTime();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + (options.days ?? fallbackDays) * DAY_MS) };
}

/**
 * 16 random bytes as a positive INTEGER (RFC 5280 4.1.2.2: positive, at most 20 octets): top
 * bit clear so it is not negative, first byte non-zero so its DER encoding is minimal.
 */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n';
}
