/**
 * TLS and mutual TLS credentials from PEM files, built once per process (docs/tls.md).
 *
 * Three modes, one per trust model:
 * - `off`: plaintext (h2c), the local default;
 * - `tls`: the server proves who it is (its certificate, checked by the client against the CA
 *   and the name it dialled); clients are anonymous at the TLS layer (tokens still apply);
 * - `mtls`: both sides present certificates issued by the same CA; a server refuses the
 *   handshake of a client without one (the client sees UNAVAILABLE, the call never reaches a
 *   handler), and every service presents its own certificate when it calls another.
 *
 * Names: a client checks the server's certificate against the host of its target
 * (`ipv4:127.0.0.1:50051` -> 127.0.0.1, `dns:///auth:50051` -> auth, `etcd:///auth` -> auth),
 * so the certificates carry every name clients dial (tools/certs); no
 * `grpc.ssl_target_name_override` is needed.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** `off` (plaintext), `tls` (server certificate) or `mtls` (both sides). */
export type TlsMode = 'off' | 'tls' | 'mtls';

/** The modes, in the order docs and config list them. */
export const TLS_MODES: readonly TlsMode[] = ['off', 'tls', 'mtls'];

/** Where the PEM files are (the TLS_* variables of @grpc-patterns/config). */
export interface TlsFiles {
  mode: TlsMode;
  /** This process' certificate chain (leaf first): served by a server, presented by a client in mtls. */
  certFile?: string | undefined;
  /** The private key of `certFile` (PKCS#8 or SEC1 PEM). */
  keyFile?: string | undefined;
  /**
   * CA certificate(s) to trust: the server's issuer for clients; client certificates' issuer
   * for an mtls server. Optional for a `tls` client: Node's bundled public roots then.
   */
  caFile?: string | undefined;
}

/**
 * Server credentials for `files.mode`: insecure (off); certificate and key (tls); and the CA with client certificates
 * required (mtls), so a client without one that CA issued fails the handshake (docs/tls.md).
 * @throws Error naming the file missing or unreadable, or the setting absent (config validation catches both first).
 */
export function serverCredentialsFromFiles(files: TlsFiles): grpc.ServerCredentials {
  if (files.mode === 'off') return grpc.ServerCredentials.createInsecure();
  const keyCertPair = { cert_chain: readPem(files.certFile, 'certFile'), private_key: readPem(files.keyFile, 'keyFile') };
  if (files.mode === 'tls') return grpc.ServerCredentials.createSsl(files.caFile ? readPem(files.caFile, 'caFile') : null, [keyCertPair], false);
  return grpc.ServerCredentials.createSsl(readPem(files.caFile, 'caFile'), [keyCertPair], true);
}

/**
 * Channel credentials for `files.mode`: insecure (off); the CA to check the server by, Node's public roots without
 * `caFile` (tls); and this process' certificate and key (mtls).
 * @throws Error naming the file that is missing or unreadable, or the setting that is absent.
 */
export function channelCredentialsFromFiles(files: TlsFiles): grpc.ChannelCredentials {
  if (files.mode === 'off') return grpc.credentials.createInsecure();
  const ca = files.caFile ? readPem(files.caFile, 'caFile') : null;
  if (files.mode === 'tls') return withoutIpServername(grpc.credentials.createSsl(ca));
  return withoutIpServername(grpc.credentials.createSsl(readPem(files.caFile, 'caFile'), readPem(files.keyFile, 'keyFile'), readPem(files.certFile, 'certFile')));
}

/** The grpc-js internals {@link withoutIpServername} reaches into (channel-credentials.ts). */
interface SecureConnectorFactory {
  _createSecureConnector?: (...args: unknown[]) => { connectionOptions?: { servername?: string } };
}

/**
 * Sends the TLS SNI server name only for host names, not the IP grpc-js sets for `ipv4:` targets (RFC 6066 §3;
 * Node's DEP0123); the certificate is still checked against the IP SAN (docs/tls.md "Names: what the client checks").
 */
export function withoutIpServername(credentials: grpc.ChannelCredentials): grpc.ChannelCredentials {
  const factory = credentials as unknown as SecureConnectorFactory;
  const create = factory._createSecureConnector?.bind(credentials);
  if (!create) return credentials;
  factory._createSecureConnector = (...args: unknown[]) => {
    const connector = create(...args);
    const options = connector.connectionOptions;
    if (options?.servername && isIP(options.servername)) delete options.servername;
    return connector;
  };
  return credentials;
}

/** Both sides' credentials of a process. */
export interface TlsCredentials {
  mode: TlsMode;
  server: grpc.ServerCredentials;
  channel: grpc.ChannelCredentials;
}

/** {@link serverCredentialsFromFiles} and {@link channelCredentialsFromFiles} of the same files. */
export function tlsCredentialsFromFiles(files: TlsFiles): TlsCredentials {
  return { mode: files.mode, server: serverCredentialsFromFiles(files), channel: channelCredentialsFromFiles(files) };
}

function readPem(file: string | undefined, setting: string): Buffer {
  if (!file) throw new Error(`TLS: ${setting} is required in this mode`);
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`TLS: cannot read ${setting} ${file}: ${(error as Error).message}`);
  }
}
