// The scrypt hasher on its own: stored format, verification, parameter changes.
import { OWASP_SCRYPT_PARAMS, createPasswordHasher } from './password-hasher.js';
import { defined, FAST_SCRYPT } from '../test/auth-fixture.js';

describe('password hasher', () => {
  const hasher = createPasswordHasher(FAST_SCRYPT);

  it('defaults to OWASP scrypt parameters (N=2^17, r=8, p=1)', () => {
    expect(createPasswordHasher().params).toEqual({ logN: 17, r: 8, p: 1 });
    expect(OWASP_SCRYPT_PARAMS).toEqual({ logN: 17, r: 8, p: 1 });
  });

  it('stores a PHC string with its parameters, a 16-byte salt and a 32-byte hash; a new salt each time', async () => {
    const a = await hasher.hash('correct horse');
    const b = await hasher.hash('correct horse');
    const phc = /^\$scrypt\$ln=10,r=8,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
    const [, salt, hash] = defined(phc.exec(a), 'PHC match');
    expect([Buffer.from(salt, 'base64').length, Buffer.from(hash, 'base64').length]).toEqual([16, 32]);
    expect(b).toMatch(phc);
    expect(b).not.toBe(a);
  });

  it('verifies the right password only', async () => {
    const stored = await hasher.hash('correct horse');
    expect(await hasher.verify('correct horse', stored)).toBe(true);
    expect(await hasher.verify('correct horsE', stored)).toBe(false);
    expect(await hasher.verify('', stored)).toBe(false);
  });

  it('returns false for no stored hash (unknown user)', async () => {
    expect(await hasher.verify('anything', undefined)).toBe(false);
  });

  it('matches passwords that differ only in Unicode normalization (NFKC)', async () => {
    const stored = await hasher.hash('caf\u00e9 \ufb01le');
    expect(await hasher.verify('cafe\u0301 file', stored)).toBe(true);
  });

  it('verifies hashes made with other parameters, and says they need a re-hash', async () => {
    const old = createPasswordHasher({ logN: 9, r: 4, p: 2 });
    const stored = await old.hash('correct horse');
    expect(stored.startsWith('$scrypt$ln=9,r=4,p=2$')).toBe(true);
    expect(await hasher.verify('correct horse', stored)).toBe(true);
    expect(hasher.needsRehash(stored)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash('correct horse'))).toBe(false);
  });

  it('refuses a stored value that is not a PHC scrypt string', async () => {
    await expect(hasher.verify('x', 'plaintext')).rejects.toThrow('stored password hash is not a PHC scrypt string');
    expect(() => hasher.needsRehash('$scrypt$ln=99,r=8,p=1$AAAA$AAAA')).toThrow('bad scrypt parameters ln=99,r=8,p=1');
  });
});
