#!/usr/bin/env node
/**
 * `npm run certs`: a dev CA and a certificate per service and for the CLI (docs/tls.md).
 *
 *   node tools/certs/dist/main.js --out .certs [--namespace grpc-patterns] [--san host...] [--force]
 */
import { Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_NAMESPACE, SERVICES, stackIdentities } from './generate.js';
import { writeStackCertificates } from './write.js';

export { CLIENT_IDENTITY, SERVICES, stackIdentities, createCa, issueCertificate, loadCa, verifyChain } from './generate.js';
export { certificateFiles, writeStackCertificates } from './write.js';

interface Options {
  out: string;
  namespace: string;
  san: string[];
  force: boolean;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('certs')
    .description(`Write a dev CA (ca.crt, ca.key) and a certificate and key per service (${SERVICES.join(', ')}) and for "client" (the CLI).`)
    .option('--out <dir>', 'folder to write into', '.certs')
    .option('--namespace <ns>', 'Kubernetes namespace of the cluster DNS names (<svc>.<ns>.svc.cluster.local)', DEFAULT_NAMESPACE)
    .option('--san <names...>', 'extra DNS names or IP addresses for every service certificate', [])
    .option('--force', 'replace the CA and every certificate, even valid ones', false);
  const options = program.parse(argv, { from: 'user' }).opts<Options>();
  const outDir = resolve(options.out);
  const identities = stackIdentities(options.namespace).map((identity) =>
    identity.usages.includes('serverAuth')
      ? {
          ...identity,
          dnsNames: [...identity.dnsNames, ...options.san.filter((s) => !isIp(s))],
          ipAddresses: [...identity.ipAddresses, ...options.san.filter(isIp)],
        }
      : identity,
  );
  const results = await writeStackCertificates({
    outDir,
    force: options.force,
    identities,
    onFile: (file, action) => process.stdout.write(`${action === 'written' ? 'wrote' : 'kept '} ${file}\n`),
  });
  const written = results.filter((r) => r.action === 'written').length;
  process.stdout.write(
    written === 0
      ? `Nothing to do: every certificate in ${outDir} is there and chains to its CA (--force makes new ones).\n`
      : `Wrote ${written} files to ${outDir} (keys mode 0600). Use them with TLS_MODE=mtls TLS_CA_FILE=${outDir}/ca.crt TLS_CERT_FILE=${outDir}/<service>.crt TLS_KEY_FILE=${outDir}/<service>.key (docs/tls.md).\n`,
  );
  return 0;
}

function isIp(value: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(value) || value.includes(':');
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`certs: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
