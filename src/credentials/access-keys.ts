import { createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { base32, randomBase32 } from './encoding.js';

/** `ASIA` + 16 base32 characters (80 bits from the CSPRNG): the 20-character shape AWS SDKs expect. */
export function newAccessKeyId(): string {
  return `ASIA${randomBase32(16)}`;
}

export const ACCESS_KEY_ID_PATTERN = /^ASIA[A-Z2-7]{16}$/;

/**
 * The secret access key is derived, never stored: HMAC-SHA256 over the access key id under the key set's
 * derivation key, as 40 base64 characters. A dump of the store therefore holds no usable secret, and any
 * instance holding the key ring can re-derive the secret of a cached or presented credential.
 */
export function deriveSecretAccessKey(derivationKey: KeyObject, accessKeyId: string): string {
  return createHmac('sha256', derivationKey)
    .update(`fedproxy/secret/v1|${accessKeyId}`)
    .digest('base64')
    .slice(0, 40);
}

/** A random session id: 128 bits, base64url. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** AWS's stable role id shape (`AROA` + 16 characters), derived from the role name. */
export function roleIdFor(accountId: string, role: string): string {
  const digest = createHmac('sha256', 'fedproxy/role-id/v1').update(`${accountId}|${role}`).digest();
  return `AROA${base32(digest).slice(0, 16)}`;
}
