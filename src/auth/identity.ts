import { createHash } from 'node:crypto';

/**
 * Who signed in, as every identity provider reports it after validation. Produced by auth/, consumed by
 * policy/ and credentials/.
 *
 * The principal is `(issuer, subject)`: e-mail and username are display data and never identify anyone.
 */
export interface Identity {
  /** The configured IdP id (`idps[].id`). */
  idp: string;
  /** `federation`: a federated user of a service account (STS GetFederationToken). */
  protocol: 'oidc' | 'saml' | 'federation';
  /** The IdP's issuer / entity ID, exactly as validated. */
  issuer: string;
  /** The IdP's stable subject identifier (`sub`, NameID or the configured attribute). */
  subject: string;
  username: string;
  email?: string;
  groups: string[];
  /** Other claims or attributes, for `${oidc:<claim>}` / `${saml:<attribute>}` template variables. */
  attributes: Record<string, string | string[]>;
  /** When the user authenticated at the IdP, ms since epoch. */
  authTime: number;
  /** When the IdP's token or assertion stops being valid, ms since epoch; credentials may be bound to it. */
  expiresAt?: number;
}

/**
 * The issuer-scoped principal id: a short, opaque, stable key for `(issuer, subject)`. Two IdPs that
 * happen to issue the same `sub` never share a principal.
 */
export function principalId(identity: Pick<Identity, 'issuer' | 'subject'>): string {
  return createHash('sha256')
    .update(identity.issuer)
    .update('\0')
    .update(identity.subject)
    .digest('base64url')
    .slice(0, 22);
}

const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Claim and attribute names that are never read or stored as identity data: they name JavaScript
 * object machinery, and reading them could reach inherited properties (prototype pollution).
 */
export function isPrototypeKey(name: string): boolean {
  return PROTOTYPE_KEYS.has(name);
}
