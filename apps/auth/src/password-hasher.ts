/**
 * Password hashing with scrypt (node:crypto), stored as a PHC string that carries its own
 * parameters: `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (PHC string format,
 * github.com/P-H-C/phc-string-format; the same `ln,r,p` spelling as passlib's scrypt). Because
 * every hash names its cost, the cost can be raised later: old hashes still verify with their
 * own parameters, and {@link PasswordHasher.needsRehash} tells the caller to re-hash on the next
 * successful login.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost: N = 2^logN (CPU/memory), r (block size), p (parallelism). */
export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/**
 * OWASP Password Storage Cheat Sheet, scrypt: "a minimum CPU/memory cost parameter of (2^17), a
 * minimum block size of 8 (1024 bytes), and a parallelization parameter of 1". Uses 128 MiB
 * per hash (128 * N * r bytes) and took about 530 ms on the 2-core machine this was written on.
 */
export const OWASP_SCRYPT_PARAMS: ScryptParams = Object.freeze({ logN: 17, r: 8, p: 1 });

/** Random salt per password, bytes (NIST SP 800-63B asks for at least 32 bits). */
export const SALT_BYTES = 16;
/** Derived key length, bytes. */
export const HASH_BYTES = 32;

/** Hashes and checks passwords; see the module comment for the stored format. */
export interface PasswordHasher {
  /** The parameters new hashes are made with. */
  readonly params: ScryptParams;
  /** A new PHC string for `password`, with a fresh random salt. */
  hash(password: string): Promise<string>;
  /**
   * Whether `password` matches `stored` (compared with timingSafeEqual). With `stored`
   * undefined (unknown user) it does the same scrypt work with the current parameters and
   * returns false, so the response time does not tell whether the user exists.
   *
   * @throws Error if `stored` is not a PHC scrypt string (corrupt data, not a user mistake).
   */
  verify(password: string, stored: string | undefined): Promise<boolean>;
  /** True when `stored` was made with parameters other than {@link params}. */
  needsRehash(stored: string): boolean;
}

/** Creates a hasher; `params` defaults to {@link OWASP_SCRYPT_PARAMS} (tests pass cheaper ones). */
export function createPasswordHasher(params: ScryptParams = OWASP_SCRYPT_PARAMS): PasswordHasher {
  checkParams(params);
  const dummySalt = randomBytes(SALT_BYTES);
  return {
    params,
    async hash(password) {
      const salt = randomBytes(SALT_BYTES);
      const key = await derive(password, salt, params, HASH_BYTES);
      return format({ params, salt, key });
    },
    async verify(password, stored) {
      if (stored === undefined) {
        await derive(password, dummySalt, params, HASH_BYTES);
        return false;
      }
      const parsed = parse(stored);
      const key = await derive(password, parsed.salt, parsed.params, parsed.key.length);
      return timingSafeEqual(key, parsed.key);
    },
    needsRehash(stored) {
      const old = parse(stored).params;
      return old.logN !== params.logN || old.r !== params.r || old.p !== params.p;
    },
  };
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function format({ params, salt, key }: ParsedHash): string {
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

const PHC_SCRYPT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function parse(stored: string): ParsedHash {
  const match = PHC_SCRYPT.exec(stored);
  if (!match) throw new Error('stored password hash is not a PHC scrypt string');
  const params = { logN: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  checkParams(params);
  return { params, salt: Buffer.from(match[4], 'base64'), key: Buffer.from(match[5], 'base64') };
}

function checkParams({ logN, r, p }: ScryptParams): void {
  if (!(Number.isInteger(logN) && logN >= 1 && logN <= 24 && Number.isInteger(r) && r >= 1 && Number.isInteger(p) && p >= 1)) {
    throw new Error(`bad scrypt parameters ln=${logN},r=${r},p=${p}`);
  }
}

/** PHC strings use standard base64 without padding. */
function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function derive(password: string, salt: Buffer, { logN, r, p }: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** logN;
  // Node refuses scrypt above 32 MiB by default; scrypt needs about 128 * N * r bytes.
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r };
  // NIST SP 800-63B 5.1.1.2: normalize (NFKC) so the same password typed on another keyboard
  // or OS, with other Unicode code points, still matches.
  const normalized = password.normalize('NFKC');
  return new Promise((resolve, reject) =>
    scryptCallback(normalized, salt, length, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}
