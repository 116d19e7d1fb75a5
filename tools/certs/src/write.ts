/**
 * Writes the dev CA and the stack's certificates into a folder, idempotently: what is there and
 * still valid is kept, what is missing is issued by the CA that is there. Private keys are
 * written with mode 0600, certificates 0644.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, loadCa, stackIdentities, verifyChain, type CertificateAuthority, type Identity } from './generate.js';

/** Options of {@link writeStackCertificates}. */
export interface WriteOptions {
  /** Folder to write into (created, mode 0700, if missing). */
  outDir: string;
  /** Replace the CA and every certificate, even valid ones. */
  force?: boolean;
  /** Identities to issue; default {@link stackIdentities}(). */
  identities?: Identity[];
  /** Called once per file with what was done to it. */
  onFile?: (file: string, action: FileAction) => void;
}

/** What happened to a file. */
export type FileAction = 'written' | 'kept';

/** The file names of an identity: `<name>.crt`, `<name>.key`. */
export function certificateFiles(outDir: string, name: string): { cert: string; key: string } {
  return { cert: join(outDir, `${name}.crt`), key: join(outDir, `${name}.key`) };
}

/**
 * Makes sure `outDir` holds `ca.crt`, `ca.key` and a certificate and key per identity; returns each file
 * and what was done to it, in writing order.
 * @throws Error for certificates without their CA or chaining to another (rerun with --force), or a ca.key not ca.crt's.
 */
export async function writeStackCertificates(options: WriteOptions): Promise<Array<{ file: string; action: FileAction }>> {
  const { outDir } = options;
  const identities = options.identities ?? stackIdentities();
  const done: Array<{ file: string; action: FileAction }> = [];
  const report = (file: string, action: FileAction) => {
    done.push({ file, action });
    options.onFile?.(file, action);
  };
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const caFiles = certificateFiles(outDir, 'ca');
  const leafExists = identities.some((i) => existsSync(certificateFiles(outDir, i.name).cert) || existsSync(certificateFiles(outDir, i.name).key));

  let ca: CertificateAuthority;
  if (!options.force && existsSync(caFiles.cert) && existsSync(caFiles.key)) {
    ca = await loadCa(readFileSync(caFiles.cert, 'utf8'), readFileSync(caFiles.key, 'utf8'));
    report(caFiles.cert, 'kept');
    report(caFiles.key, 'kept');
  } else {
    if (!options.force && leafExists) {
      throw new Error(`${outDir} has certificates but no ca.crt/ca.key: rerun with --force to make a new CA and new certificates`);
    }
    ca = await createCa();
    writeFile(caFiles.key, ca.keyPem, 0o600);
    writeFile(caFiles.cert, ca.certPem, 0o644);
    report(caFiles.cert, 'written');
    report(caFiles.key, 'written');
  }

  for (const identity of identities) {
    const files = certificateFiles(outDir, identity.name);
    if (!options.force && existsSync(files.cert) && existsSync(files.key)) {
      try {
        verifyChain(ca.certPem, readFileSync(files.cert, 'utf8'));
      } catch (error) {
        throw new Error(`${files.cert}: ${(error as Error).message}; rerun with --force to issue new certificates`);
      }
      report(files.cert, 'kept');
      report(files.key, 'kept');
      continue;
    }
    const issued = await issueCertificate(ca, identity);
    verifyChain(ca.certPem, issued.certPem);
    writeFile(files.key, issued.keyPem, 0o600);
    writeFile(files.cert, issued.certPem, 0o644);
    report(files.cert, 'written');
    report(files.key, 'written');
  }
  return done;
}

/** Writes `text` and sets `mode` (writeFileSync's mode applies only to a new file). */
function writeFile(file: string, text: string, mode: number): void {
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
}
