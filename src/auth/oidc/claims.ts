import type { OidcIdpConfig } from '../../config/schema.js';
import { InvalidIdentityTokenError } from '../../errors.js';
import { isPrototypeKey, type Identity } from '../identity.js';

/**
 * Turns the claims of a *validated* OIDC token (a workload bearer token or a browser sign-in's ID token,
 * optionally merged with userinfo) into an Identity. Signature, `iss`, `aud` and time checks are the
 * caller's job; this module only reads claims, and refuses claims it cannot map safely by throwing
 * InvalidIdentityTokenError with a precise `reason`.
 *
 * Claim paths (`idp.claims.*`) are dot paths into nested objects (`realm_access.roles`). A claim whose
 * own name contains dots (Auth0-style `https://corp.example/groups`) is matched literally first.
 * Only own properties are read, and the segments `__proto__`, `constructor` and `prototype` never
 * resolve: a claim path can never reach Object.prototype.
 */

/** OIDC Core §2: `sub` is at most 255 ASCII characters. */
export const MAX_SUBJECT_LENGTH = 255;

/**
 * Claims that never become `${oidc:<claim>}` attributes: the registered JWT claims (RFC 7519 §4.1) and
 * ID-token protocol values that only mean something to the validator (nonce, hashes).
 */
const PROTOCOL_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
]);

export interface ClaimsMappingOptions {
  /**
   * When the user (or workload) authenticated, ms since epoch. When absent: the `auth_time` claim, else
   * `iat`; a token with neither and no value here is refused.
   */
  authTime?: number;
  /** When the token stops being valid, ms since epoch. When absent: the `exp` claim, if any. */
  expiresAt?: number;
}

/**
 * Maps validated claims to an Identity of `idp`.
 *
 * - `issuer` is the `iss` claim, which must equal the configured issuer exactly (the caller validated it;
 *   checked again so a mapping bug can never move a subject to another issuer's principal).
 * - `subject`: a non-empty string of at most 255 characters, else refused.
 * - `username`: the username claim; when that claim is absent (client-credentials tokens have no
 *   `preferred_username`) the subject. Present but not a non-empty string: refused.
 * - `email`: optional display data. Kept only when it is a non-empty string and `email_verified` is
 *   `true` (or `"true"`), so an unverified address never reaches `${fed:email}`.
 * - `groups`: absent or `null` → none; a string → that one group; an array of strings → those groups
 *   (empty strings dropped, duplicates removed). Anything else, including an array with a non-string
 *   member, is refused: a malformed groups claim means the IdP is not sending what the mappings were
 *   written for, and silently mapping part of it would hide that.
 * - `attributes`: every other top-level claim whose value is a string or an array of strings, minus
 *   PROTOCOL_CLAIMS, as raw IdP values for `${oidc:<claim>}` (the vetted values are the `${fed:*}` ones).
 *   The record has no prototype.
 */
export function identityFromClaims(
  idp: OidcIdpConfig,
  claims: Record<string, unknown>,
  options: ClaimsMappingOptions = {},
): Identity {
  const issuer = ownValue(claims, 'iss');
  if (typeof issuer !== 'string' || issuer !== idp.issuer) throw new InvalidIdentityTokenError('issuer');

  const subject = claimAt(claims, idp.claims.subject);
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw new InvalidIdentityTokenError('subject claim');
  }

  const username = claimAt(claims, idp.claims.username);
  if (username !== undefined && (typeof username !== 'string' || username.length === 0)) {
    throw new InvalidIdentityTokenError('username claim');
  }

  const email = claimAt(claims, idp.claims.email);
  const emailVerified = ownValue(claims, 'email_verified');
  // Only an e-mail the IdP says it verified (some send the boolean as a string): an address a user can
  // set freely must never fill ${fed:email} in a policy. The raw claim stays available as ${oidc:email}.
  const emailUsable =
    typeof email === 'string' && email.length > 0 && (emailVerified === true || emailVerified === 'true');

  const authTime = options.authTime ?? secondsClaim(claims, 'auth_time') ?? secondsClaim(claims, 'iat');
  if (authTime === undefined) throw new InvalidIdentityTokenError('no authentication time');
  const expiresAt = options.expiresAt ?? secondsClaim(claims, 'exp');

  const identity: Identity = {
    idp: idp.id,
    protocol: 'oidc',
    issuer,
    subject,
    username: username ?? subject,
    groups: groupsFrom(claimAt(claims, idp.claims.groups)),
    attributes: attributesFrom(claims),
    authTime,
  };
  if (emailUsable) identity.email = email;
  if (expiresAt !== undefined) identity.expiresAt = expiresAt;
  return identity;
}

/**
 * The value at a dot path, reading own properties only; `undefined` when any segment is missing, is a
 * prototype key, or walks into something that is not a plain JSON object.
 */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  const literal = ownValue(claims, path);
  if (literal !== undefined || !path.includes('.')) return literal;
  let current: unknown = claims;
  for (const segment of path.split('.')) {
    if (!isJsonObject(current)) return undefined;
    current = ownValue(current, segment);
    if (current === undefined) return undefined;
  }
  return current;
}

function ownValue(object: Record<string, unknown>, key: string): unknown {
  if (isPrototypeKey(key) || !Object.hasOwn(object, key)) return undefined;
  return object[key];
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((member) => typeof member === 'string');
}

function groupsFrom(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (!isStringArray(value)) throw new InvalidIdentityTokenError('groups claim');
  return [...new Set(value.filter((group) => group !== ''))];
}

function attributesFrom(claims: Record<string, unknown>): Record<string, string | string[]> {
  const attributes: Record<string, string | string[]> = Object.create(null) as Record<
    string,
    string | string[]
  >;
  for (const name of Object.keys(claims)) {
    if (PROTOCOL_CLAIMS.has(name) || isPrototypeKey(name)) continue;
    const value = claims[name];
    if (typeof value === 'string') attributes[name] = value;
    else if (isStringArray(value)) attributes[name] = [...value];
  }
  return attributes;
}

/** A NumericDate claim (seconds) as ms since epoch; `undefined` when absent or not a finite number. */
function secondsClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const value = ownValue(claims, name);
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? Math.floor(value * 1000)
    : undefined;
}
