import { sign as signCallback, verify as verifyCallback, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { KeyRing } from './keys.js';

/**
 * The session token: a compact JWS (`alg: EdDSA`, `kid` and `typ` in the header) with small claims.
 * It names the session and proves fedproxy issued it; it carries no IdP claims, groups or policy text
 * (only the policy's hash), so it stays well under 600 bytes and leaks nothing.
 *
 * Parsing is strict: the header must be exactly {alg, kid, typ} with alg EdDSA (no `none`, no HMAC, no
 * embedded `jwk`/`jku`/`x5u`/`crit`), the kid must be in the key ring, and the claims must have exactly
 * the expected shape. Signing and verifying run on the libuv threadpool (callback form of node:crypto).
 */

export const SESSION_TOKEN_TYPE = 'fp-session+jwt';
/** Longer input is rejected before any parsing or crypto. */
export const MAX_SESSION_TOKEN_LENGTH = 2048;

const sign = promisify(signCallback) as (algorithm: null, data: Buffer, key: KeyObject) => Promise<Buffer>;
const verify = promisify(verifyCallback) as (
  algorithm: null,
  data: Buffer,
  key: KeyObject,
  signature: Buffer,
) => Promise<boolean>;

const headerSchema = z.strictObject({
  alg: z.literal('EdDSA'),
  kid: z.string().min(1).max(64),
  typ: z.literal(SESSION_TOKEN_TYPE),
});

export const sessionClaimsSchema = z.strictObject({
  v: z.literal(1),
  sid: z.string().min(1).max(64),
  akid: z.string().min(1).max(64),
  iss: z.string().min(1).max(512),
  sub: z.string().min(1).max(128),
  role: z.string().min(1).max(64),
  iat: z.int().nonnegative(),
  exp: z.int().nonnegative(),
  ph: z.string().min(1).max(64),
});
export type SessionClaims = z.infer<typeof sessionClaimsSchema>;

export class SessionTokenError extends Error {}

const base64urlPart = /^[A-Za-z0-9_-]+$/;

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export async function signSessionToken(claims: SessionClaims, kid: string, key: KeyObject): Promise<string> {
  const signingInput = `${encodeJson({ alg: 'EdDSA', kid, typ: SESSION_TOKEN_TYPE })}.${encodeJson(claims)}`;
  const signature = await sign(null, Buffer.from(signingInput), key);
  return `${signingInput}.${signature.toString('base64url')}`;
}

function decodeJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new SessionTokenError(`${what} is not JSON`);
  }
}

/**
 * Checks the token's form and signature and returns its claims and kid. Says nothing about time or
 * liveness: see SessionVerifier.
 */
export async function readSessionToken(
  token: string,
  keys: KeyRing,
): Promise<{ claims: SessionClaims; kid: string }> {
  if (token.length > MAX_SESSION_TOKEN_LENGTH) throw new SessionTokenError('token too long');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => base64urlPart.test(part))) {
    throw new SessionTokenError('not a compact JWS');
  }
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = headerSchema.safeParse(decodeJson(headerPart, 'header'));
  if (!header.success) throw new SessionTokenError('unexpected token header');
  const keySet = keys.find(header.data.kid);
  if (!keySet) throw new SessionTokenError('unknown key id');
  const signature = Buffer.from(signaturePart, 'base64url');
  if (signature.length !== 64) throw new SessionTokenError('bad signature');
  const valid = await verify(
    null,
    Buffer.from(`${headerPart}.${claimsPart}`),
    keySet.verifyingKey,
    signature,
  );
  if (!valid) throw new SessionTokenError('bad signature');
  const claims = sessionClaimsSchema.safeParse(decodeJson(claimsPart, 'claims'));
  if (!claims.success) throw new SessionTokenError('unexpected token claims');
  return { claims: claims.data, kid: header.data.kid };
}
