import { mkdtemp, readFile, readdir, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateStoredKeySet,
  importKeySet,
  KeyRing,
  loadKeyRing,
  writeNewKeySet,
} from '../../src/credentials/keys.js';
import {
  ACCESS_KEY_ID_PATTERN,
  deriveSecretAccessKey,
  accessKeyIdFor,
  newSessionId,
  sessionIdFor,
} from '../../src/credentials/access-keys.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'fedproxy-keys-'));

describe('key ring', () => {
  it('`keys generate` writes a 0600 key set that loads back with the same kid', async () => {
    const dir = await tempDir();
    const { kid, path } = await writeNewKeySet(dir);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const { ring, warnings } = await loadKeyRing({ dir });
    expect(warnings).toEqual([]);
    expect(ring.current.kid).toBe(kid);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ kid });
  });

  it('signs with the newest key set and keeps every older one for verification', async () => {
    const dir = await tempDir();
    const older = await writeNewKeySet(dir, new Date('2026-01-01T00:00:00Z'));
    const newer = await writeNewKeySet(dir, new Date('2026-02-01T00:00:00Z'));
    const { ring } = await loadKeyRing({ dir });
    expect(ring.current.kid).toBe(newer.kid);
    expect(ring.find(older.kid)).toBeDefined();
    expect(
      ring
        .jwks()
        .keys.map((key) => key.kid)
        .sort(),
    ).toEqual([older.kid, newer.kid].sort());
  });

  it('publishes only public Ed25519 keys in the JWKS', () => {
    const ring = new KeyRing([importKeySet(generateStoredKeySet(), 'test')]);
    const [key] = ring.jwks().keys;
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(key).not.toHaveProperty('d');
    expect(JSON.stringify(ring.jwks())).not.toContain('derivation');
  });

  it('loads key sets from FEDPROXY_KEYS JSON (one or an array)', async () => {
    const one = generateStoredKeySet(new Date('2026-01-01T00:00:00Z'));
    const two = generateStoredKeySet(new Date('2026-03-01T00:00:00Z'));
    expect((await loadKeyRing({ envJson: JSON.stringify(one) })).ring.current.kid).toBe(one.kid);
    expect((await loadKeyRing({ envJson: JSON.stringify([one, two]) })).ring.current.kid).toBe(two.kid);
  });

  it('warns about key files readable by others', async () => {
    const dir = await tempDir();
    const { path } = await writeNewKeySet(dir);
    await chmod(path, 0o644);
    const { warnings } = await loadKeyRing({ dir });
    expect(warnings.join()).toContain('chmod 600');
  });

  it('refuses an empty key folder, malformed files and non-Ed25519 signing keys with a clear message', async () => {
    const dir = await tempDir();
    await expect(loadKeyRing({ dir })).rejects.toThrow(/fedproxy keys generate/);
    await writeFile(join(dir, 'bad.key.json'), '{"kid": "x"', { mode: 0o600 });
    await expect(loadKeyRing({ dir })).rejects.toThrow(/not valid JSON/);
    const stored = generateStoredKeySet();
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() =>
      importKeySet({ ...stored, signingKey: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) }, 'rsa'),
    ).toThrow(/Ed25519/);
    expect(() => importKeySet({ ...stored, signingKey: 'not a key' }, 'garbage')).toThrow(
      /not a PEM private key/,
    );
    await expect(loadKeyRing({})).rejects.toThrow(/no keys configured/);
    expect(await readdir(dir)).toEqual(['bad.key.json']);
  });

  it('refuses duplicate kids', () => {
    const stored = generateStoredKeySet();
    expect(() => new KeyRing([importKeySet(stored, 'a'), importKeySet(stored, 'b')])).toThrow(/duplicate/);
  });
});

describe('access keys and derived secrets', () => {
  it('access key ids are ASIA + 16 base32 characters and never repeat', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => accessKeyIdFor(newSessionId())));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(ACCESS_KEY_ID_PATTERN);
  });

  it('a session id and its access key id spell the same bits, each way', () => {
    for (let i = 0; i < 500; i++) {
      const sid = newSessionId();
      expect(sid).toMatch(/^[A-Za-z0-9_-]{14}$/);
      expect(sessionIdFor(accessKeyIdFor(sid))).toBe(sid);
    }
    expect(accessKeyIdFor('AAAAAAAAAAAAAA')).toBe('ASIAAAAAAAAAAAAAAAAA');
    expect(accessKeyIdFor('_____________w')).toBe('ASIA7777777777777777');
    expect(sessionIdFor('ASIA7777777777777777')).toBe('_____________w');
  });

  it('only ids of the right shape are converted', () => {
    for (const akid of [
      'AKIA7777777777777777',
      'ASIA777777777777777',
      'ASIA77777777777777771',
      'asia7777777777777777',
    ])
      expect(sessionIdFor(akid)).toBeUndefined();
    for (const sid of ['', 'AAAAAAAAAAAAAB', 'AAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAA', 'AAAAAAAAAAAA+A'])
      expect(() => accessKeyIdFor(sid)).toThrow(RangeError);
  });

  it('the secret is 40 characters, re-derivable, and depends on the derivation key', () => {
    const a = importKeySet(generateStoredKeySet(), 'a');
    const b = importKeySet(generateStoredKeySet(), 'b');
    const akid = accessKeyIdFor(newSessionId());
    const secret = deriveSecretAccessKey(a.derivationKey, akid);
    expect(secret).toHaveLength(40);
    expect(deriveSecretAccessKey(a.derivationKey, akid)).toBe(secret);
    expect(deriveSecretAccessKey(b.derivationKey, akid)).not.toBe(secret);
    expect(deriveSecretAccessKey(a.derivationKey, accessKeyIdFor(newSessionId()))).not.toBe(secret);
  });
});
