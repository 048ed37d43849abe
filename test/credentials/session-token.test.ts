import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateStoredKeySet, importKeySet, KeyRing } from '../../src/credentials/keys.js';
import {
  MAX_SESSION_TOKEN_LENGTH,
  readSessionToken,
  SESSION_TOKEN_TYPE,
  SessionTokenError,
  signSessionToken,
  type SessionClaims,
} from '../../src/credentials/session-token.js';

const keySet = importKeySet(generateStoredKeySet(), 'test');
const ring = new KeyRing([keySet]);
const claims: SessionClaims = {
  v: 1,
  sid: 'AAAAAAAAAAAAAAAAAAAAAA',
  akid: 'ASIAAAAAAAAAAAAAAAAA',
  iss: 'https://fedproxy.corp.example',
  sub: 'pppppppppppppppppppppp',
  role: 'reports-reader',
  iat: 1_767_225_600,
  exp: 1_767_229_200,
  ph: 'hhhhhhhhhhhhhhhhhhhhhh',
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Builds a token from raw parts, signed with the given function (for forgery cases). */
function forge(header: unknown, body: unknown, signWith: (input: Buffer) => Buffer): string {
  const input = `${b64(header)}.${b64(body)}`;
  return `${input}.${signWith(Buffer.from(input)).toString('base64url')}`;
}
const edSign = (input: Buffer) => sign(null, input, keySet.signingKey);
const goodHeader = { alg: 'EdDSA', kid: keySet.kid, typ: SESSION_TOKEN_TYPE };

describe('session token', () => {
  it('round-trips its claims and stays under 600 bytes even with a 64-character role', async () => {
    const token = await signSessionToken(claims, keySet.kid, keySet.signingKey);
    expect(await readSessionToken(token, ring)).toEqual({ claims, kid: keySet.kid });
    const long = await signSessionToken({ ...claims, role: 'r'.repeat(64) }, keySet.kid, keySet.signingKey);
    expect(long.length).toBeLessThan(600);
  });

  it('is deterministic (Ed25519): the same session re-signs to the same token', async () => {
    expect(await signSessionToken(claims, keySet.kid, keySet.signingKey)).toBe(
      await signSessionToken(claims, keySet.kid, keySet.signingKey),
    );
  });

  it('rejects a token whose claims were changed after signing', async () => {
    const token = await signSessionToken(claims, keySet.kid, keySet.signingKey);
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64({ ...claims, role: 'platform-admin' })}.${signature}`;
    await expect(readSessionToken(tampered, ring)).rejects.toThrow('bad signature');
  });

  it('rejects a flipped signature bit', async () => {
    const token = await signSessionToken(claims, keySet.kid, keySet.signingKey);
    const [header, body, signature] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] = bytes[0]! ^ 1;
    await expect(readSessionToken(`${header}.${body}.${bytes.toString('base64url')}`, ring)).rejects.toThrow(
      'bad signature',
    );
  });

  it('rejects alg "none" and an empty signature', async () => {
    const token = `${b64({ alg: 'none', kid: keySet.kid, typ: SESSION_TOKEN_TYPE })}.${b64(claims)}.`;
    await expect(readSessionToken(token, ring)).rejects.toThrow();
  });

  it('rejects HS256 keyed with the public key (algorithm confusion)', async () => {
    const publicKey = keySet.verifyingKey.export({ format: 'der', type: 'spki' });
    const token = forge({ ...goodHeader, alg: 'HS256' }, claims, (input) =>
      createHmac('sha256', publicKey).update(input).digest(),
    );
    await expect(readSessionToken(token, ring)).rejects.toThrow('unexpected token header');
  });

  it('rejects a header that embeds its own key (jwk) even when signed by that key', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const token = forge(
      { ...goodHeader, jwk: attacker.publicKey.export({ format: 'jwk' }) },
      claims,
      (input) => sign(null, input, attacker.privateKey),
    );
    await expect(readSessionToken(token, ring)).rejects.toThrow('unexpected token header');
  });

  it('rejects a kid that is not in the key ring', async () => {
    const token = forge({ ...goodHeader, kid: 'unknown-kid' }, claims, edSign);
    await expect(readSessionToken(token, ring)).rejects.toThrow('unknown key id');
  });

  it('rejects a token signed by another Ed25519 key under our kid', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const token = forge(goodHeader, claims, (input) => sign(null, input, attacker.privateKey));
    await expect(readSessionToken(token, ring)).rejects.toThrow('bad signature');
  });

  it('rejects other token types and unexpected or missing claims even when validly signed', async () => {
    await expect(
      readSessionToken(forge({ ...goodHeader, typ: 'JWT' }, claims, edSign), ring),
    ).rejects.toThrow('unexpected token header');
    await expect(
      readSessionToken(forge(goodHeader, { ...claims, admin: true }, edSign), ring),
    ).rejects.toThrow('unexpected token claims');
    const { ph: _ph, ...withoutHash } = claims;
    await expect(readSessionToken(forge(goodHeader, withoutHash, edSign), ring)).rejects.toThrow(
      'unexpected token claims',
    );
  });

  it('rejects a well-formed, validly signed token longer than the cap as "token too long"', async () => {
    // No claims that fit the schema make a token this long, so past the cap the latest possible refusal
    // is the claims schema's: only the length check answers "token too long".
    const withIssuer = (length: number) =>
      forge(goodHeader, { ...claims, iss: `https://${'x'.repeat(length)}.example` }, edSign);
    const oversized = withIssuer(2000);
    expect(oversized.length).toBeGreaterThan(MAX_SESSION_TOKEN_LENGTH);
    const refusal = await readSessionToken(oversized, ring).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SessionTokenError);
    expect(refusal).toHaveProperty('message', 'token too long');
    // The same construction under the cap gets as far as the claims schema (iss is at most 512).
    const underCap = withIssuer(1000);
    expect(underCap.length).toBeLessThanOrEqual(MAX_SESSION_TOKEN_LENGTH);
    await expect(readSessionToken(underCap, ring)).rejects.toThrow('unexpected token claims');
  });

  it('rejects malformed and oversized input before any crypto', async () => {
    for (const bad of ['', 'a.b', 'a.b.c.d', 'a.b.c', '!!!.###.$$$', `${'a'.repeat(3000)}.b.c`]) {
      await expect(readSessionToken(bad, ring)).rejects.toThrow();
    }
  });
});
