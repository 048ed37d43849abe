import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Comparisons of secrets (CSRF tokens, binding cookies, API tokens) that take the same time however
 * much of the value matched.
 */

/** Constant-time equality of two strings (their lengths are not secret). */
export function secretsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The name of the configured token that `Authorization: Bearer <token>` carries, or undefined. Tokens
 * are configured as their hex SHA-256 (admin API and verifier tokens); the presented token's hash is
 * compared in constant time against every configured hash, with no early exit, so timing reveals
 * neither which token matched nor how much of a hash did.
 */
export function namedTokenFrom(
  authorization: string | undefined,
  tokens: readonly { name: string; sha256: string }[],
): string | undefined {
  const token = /^Bearer\s+(\S{16,512})\s*$/i.exec(authorization ?? '')?.[1];
  if (token === undefined) return undefined;
  const presented = createHash('sha256').update(token).digest();
  let found: string | undefined;
  for (const { name, sha256 } of tokens) {
    if (timingSafeEqual(presented, Buffer.from(sha256, 'hex'))) found ??= name;
  }
  return found;
}

/** SHA-256, base64url: how a random value is stored when only its holder may present it again. */
export function storedFormOf(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/**
 * A browser binding against login CSRF: `value` goes into a cookie of the browser that starts a sign-in,
 * `stored` (its hash) with the pending sign-in; `bindingMatches` checks the cookie that comes back.
 */
export function newBrowserBinding(): { value: string; stored: string } {
  const value = randomBytes(24).toString('base64url');
  return { value, stored: storedFormOf(value) };
}

export function bindingMatches(stored: string, presented: string | undefined): boolean {
  return presented !== undefined && secretsEqual(stored, storedFormOf(presented));
}
