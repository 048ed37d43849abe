import { createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { base32, fromBase32 } from './encoding.js';

/**
 * A session's id and its access key id are two spellings of the same 80 bits from the CSPRNG: the session
 * id in base64url (14 characters), the access key id as `ASIA` + 16 base32 characters, the 20-character
 * shape AWS SDKs expect. So the session of an access key id is known without a lookup, and the store keeps
 * no pointer from one to the other. Neither is a secret: the secret key is derived from the access key id
 * under the derivation key (below).
 */
const SESSION_ID_BYTES = 10;

export const ACCESS_KEY_ID_PATTERN = /^ASIA[A-Z2-7]{16}$/;
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{13}[AQgw]$/;

export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

export function accessKeyIdFor(sessionId: string): string {
  if (!SESSION_ID_PATTERN.test(sessionId)) throw new RangeError('not a session id');
  return `ASIA${base32(Buffer.from(sessionId, 'base64url'))}`;
}

/** The session id an access key id spells; undefined when it is not one of ours in shape. */
export function sessionIdFor(accessKeyId: string): string | undefined {
  if (!ACCESS_KEY_ID_PATTERN.test(accessKeyId)) return undefined;
  return Buffer.from(fromBase32(accessKeyId.slice(4))).toString('base64url');
}

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

/** AWS's stable role id shape (`AROA` + 16 characters), derived from the role name. */
export function roleIdFor(accountId: string, role: string): string {
  const digest = createHmac('sha256', 'fedproxy/role-id/v1').update(`${accountId}|${role}`).digest();
  return `AROA${base32(digest).slice(0, 16)}`;
}
