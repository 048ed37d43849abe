import { describe, expect, it } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import { identityFromClaims, MAX_SUBJECT_LENGTH } from '../../src/auth/oidc/claims.js';
import { idpSchema, type OidcIdpConfig } from '../../src/config/schema.js';
import { InvalidIdentityTokenError } from '../../src/errors.js';

const ISSUER = 'https://login.corp.example';

function oidcIdp(overrides: Record<string, unknown> = {}): OidcIdpConfig {
  const idp = idpSchema.parse({
    id: 'corp',
    type: 'oidc',
    issuer: ISSUER,
    audiences: ['fedproxy'],
    ...overrides,
  });
  if (idp.type !== 'oidc') throw new Error('expected an OIDC IdP');
  return idp;
}

const base = {
  iss: ISSUER,
  sub: 'user-1234',
  aud: 'fedproxy',
  iat: 1_767_225_600,
  exp: 1_767_229_200,
  preferred_username: 'alice',
  email: 'alice@corp.example',
  email_verified: true,
  groups: ['engineers', 'ops'],
};

/** The reason the mapping refused, or a failure if it did not. */
function refusal(idp: OidcIdpConfig, claims: Record<string, unknown>): string {
  try {
    identityFromClaims(idp, claims, {});
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidIdentityTokenError);
    return (error as InvalidIdentityTokenError).reason;
  }
  throw new Error('expected the claims to be refused');
}

describe('identityFromClaims', () => {
  it('maps the standard claims, keyed by the validated iss and sub', () => {
    const identity = identityFromClaims(oidcIdp(), base, {});
    expect(identity).toMatchObject({
      idp: 'corp',
      protocol: 'oidc',
      issuer: ISSUER,
      subject: 'user-1234',
      username: 'alice',
      email: 'alice@corp.example',
      groups: ['engineers', 'ops'],
      authTime: base.iat * 1000,
      expiresAt: base.exp * 1000,
    });
  });

  it('takes authTime and expiresAt from the options over the claims', () => {
    const identity = identityFromClaims(
      oidcIdp(),
      { ...base, auth_time: 1_767_225_000 },
      { authTime: 5, expiresAt: 7 },
    );
    expect(identity.authTime).toBe(5);
    expect(identity.expiresAt).toBe(7);
  });

  it('falls back to auth_time, then iat, and refuses a token with no time at all', () => {
    expect(identityFromClaims(oidcIdp(), { ...base, auth_time: 1_767_225_000 }, {}).authTime).toBe(
      1_767_225_000_000,
    );
    expect(identityFromClaims(oidcIdp(), base, {}).authTime).toBe(base.iat * 1000);
    const { iat: _iat, ...noTime } = base;
    expect(refusal(oidcIdp(), noTime)).toBe('no authentication time');
  });

  it('refuses claims whose iss is not the configured issuer', () => {
    expect(refusal(oidcIdp(), { ...base, iss: 'https://evil.example' })).toBe('issuer');
    expect(refusal(oidcIdp(), { ...base, iss: `${ISSUER}/` })).toBe('issuer');
    const { iss: _iss, ...noIssuer } = base;
    expect(refusal(oidcIdp(), noIssuer)).toBe('issuer');
  });

  it('gives the same sub from two issuers two different principals', () => {
    const other = 'https://login.partner.example';
    const a = identityFromClaims(oidcIdp(), base, {});
    const b = identityFromClaims(oidcIdp({ id: 'partner', issuer: other }), { ...base, iss: other }, {});
    expect(a.subject).toBe(b.subject);
    expect(principalId(a)).not.toBe(principalId(b));
  });

  describe('subject', () => {
    it('accepts a subject of exactly 255 characters', () => {
      const sub = 's'.repeat(MAX_SUBJECT_LENGTH);
      expect(identityFromClaims(oidcIdp(), { ...base, sub }, {}).subject).toBe(sub);
    });

    it('refuses a missing, empty, over-long or non-string subject', () => {
      const { sub: _sub, ...noSubject } = base;
      expect(refusal(oidcIdp(), noSubject)).toBe('subject claim');
      expect(refusal(oidcIdp(), { ...base, sub: '' })).toBe('subject claim');
      expect(refusal(oidcIdp(), { ...base, sub: 's'.repeat(MAX_SUBJECT_LENGTH + 1) })).toBe('subject claim');
      expect(refusal(oidcIdp(), { ...base, sub: 1234 })).toBe('subject claim');
      expect(refusal(oidcIdp(), { ...base, sub: ['user-1234'] })).toBe('subject claim');
    });

    it('reads the subject from the configured claim path', () => {
      const idp = oidcIdp({ claims: { subject: 'oid' } });
      expect(identityFromClaims(idp, { ...base, oid: 'object-id-1' }, {}).subject).toBe('object-id-1');
    });
  });

  describe('username', () => {
    it('falls back to the subject when the username claim is absent (client-credentials tokens)', () => {
      const { preferred_username: _username, ...clientCredentials } = base;
      expect(identityFromClaims(oidcIdp(), clientCredentials, {}).username).toBe('user-1234');
    });

    it('refuses a username claim that is present but not a non-empty string', () => {
      expect(refusal(oidcIdp(), { ...base, preferred_username: '' })).toBe('username claim');
      expect(refusal(oidcIdp(), { ...base, preferred_username: 42 })).toBe('username claim');
    });
  });

  describe('email', () => {
    it('is optional', () => {
      const { email: _email, ...noEmail } = base;
      expect(identityFromClaims(oidcIdp(), noEmail, {})).not.toHaveProperty('email');
    });

    it('is dropped when it is not a string', () => {
      expect(identityFromClaims(oidcIdp(), { ...base, email: ['a@corp.example'] }, {})).not.toHaveProperty(
        'email',
      );
    });

    it('is dropped unless email_verified says so: an address a user can set never fills ${fed:email}', () => {
      const { email_verified: _verified, ...unverified } = base;
      expect(identityFromClaims(oidcIdp(), unverified, {})).not.toHaveProperty('email');
      expect(identityFromClaims(oidcIdp(), { ...base, email_verified: 'true' }, {}).email).toBe(
        'alice@corp.example',
      );
    });

    it('is dropped when email_verified is false (as a boolean or a string)', () => {
      expect(identityFromClaims(oidcIdp(), { ...base, email_verified: false }, {})).not.toHaveProperty(
        'email',
      );
      expect(identityFromClaims(oidcIdp(), { ...base, email_verified: 'false' }, {})).not.toHaveProperty(
        'email',
      );
      expect(identityFromClaims(oidcIdp(), { ...base, email_verified: true }, {}).email).toBe(
        'alice@corp.example',
      );
    });
  });

  describe('groups', () => {
    it('reads a dot path into a nested claim (realm_access.roles)', () => {
      const idp = oidcIdp({ claims: { groups: 'realm_access.roles' } });
      const claims = { ...base, realm_access: { roles: ['admins', 'users'] } };
      expect(identityFromClaims(idp, claims, {}).groups).toEqual(['admins', 'users']);
    });

    it('prefers a claim whose own name contains dots (namespaced claims)', () => {
      const idp = oidcIdp({ claims: { groups: 'https://corp.example/groups' } });
      const claims = { ...base, 'https://corp.example/groups': ['auditors'] };
      expect(identityFromClaims(idp, claims, {}).groups).toEqual(['auditors']);
    });

    it('gives no groups when a dot path walks into a missing key, an array or a string', () => {
      const idp = oidcIdp({ claims: { groups: 'realm_access.roles' } });
      expect(identityFromClaims(idp, base, {}).groups).toEqual([]);
      expect(identityFromClaims(idp, { ...base, realm_access: [{ roles: ['x'] }] }, {}).groups).toEqual([]);
      expect(identityFromClaims(idp, { ...base, realm_access: 'roles' }, {}).groups).toEqual([]);
    });

    it('turns a single string into one group', () => {
      expect(identityFromClaims(oidcIdp(), { ...base, groups: 'engineers' }, {}).groups).toEqual([
        'engineers',
      ]);
    });

    it('gives no groups when the claim is absent, null or an empty string', () => {
      const { groups: _groups, ...noGroups } = base;
      expect(identityFromClaims(oidcIdp(), noGroups, {}).groups).toEqual([]);
      expect(identityFromClaims(oidcIdp(), { ...base, groups: null }, {}).groups).toEqual([]);
      expect(identityFromClaims(oidcIdp(), { ...base, groups: '' }, {}).groups).toEqual([]);
    });

    it('drops empty strings and duplicates', () => {
      const claims = { ...base, groups: ['ops', '', 'ops', 'engineers'] };
      expect(identityFromClaims(oidcIdp(), claims, {}).groups).toEqual(['ops', 'engineers']);
    });

    it('refuses an array with a non-string member', () => {
      expect(refusal(oidcIdp(), { ...base, groups: ['engineers', 7] })).toBe('groups claim');
      expect(refusal(oidcIdp(), { ...base, groups: ['engineers', { name: 'admins' }] })).toBe('groups claim');
    });

    it('refuses a groups claim of another type', () => {
      expect(refusal(oidcIdp(), { ...base, groups: 7 })).toBe('groups claim');
      expect(refusal(oidcIdp(), { ...base, groups: { admins: true } })).toBe('groups claim');
    });
  });

  describe('prototype keys', () => {
    it('never reads groups through __proto__ (a JSON "__proto__" key is an own property)', () => {
      const claims = JSON.parse(
        `{"iss":"${ISSUER}","sub":"user-1234","iat":1767225600,"__proto__":{"groups":["admins"]}}`,
      ) as Record<string, unknown>;
      expect(Object.hasOwn(claims, '__proto__')).toBe(true);
      expect(identityFromClaims(oidcIdp(), claims, {}).groups).toEqual([]);
      const viaPath = oidcIdp({ claims: { groups: '__proto__.groups' } });
      expect(identityFromClaims(viaPath, claims, {}).groups).toEqual([]);
    });

    it('never reads inherited properties (constructor, toString) as claims', () => {
      const idp = oidcIdp({
        claims: { groups: 'constructor.name', username: 'toString', email: 'constructor' },
      });
      const { preferred_username: _u, email: _e, groups: _g, ...claims } = base;
      const identity = identityFromClaims(idp, claims, {});
      expect(identity.groups).toEqual([]);
      expect(identity.username).toBe('user-1234');
      expect(identity).not.toHaveProperty('email');
    });

    it('never reads the subject from a prototype', () => {
      const idp = oidcIdp({ claims: { subject: 'constructor.name' } });
      expect(refusal(idp, base)).toBe('subject claim');
    });

    it('builds attributes without a prototype and without __proto__ / constructor keys', () => {
      const claims = JSON.parse(
        `{"iss":"${ISSUER}","sub":"u","iat":1767225600,"__proto__":"x","constructor":"y","team":"blue"}`,
      ) as Record<string, unknown>;
      const { attributes } = identityFromClaims(oidcIdp(), claims, {});
      expect(Object.getPrototypeOf(attributes)).toBeNull();
      expect(Object.keys(attributes)).toEqual(['team']);
      expect(attributes.constructor).toBeUndefined();
    });
  });

  describe('attributes', () => {
    it('keeps top-level string and string-array claims, minus registered JWT and protocol claims', () => {
      const claims = {
        ...base,
        jti: 'token-id',
        nbf: base.iat,
        nonce: 'n-0S6_WzA2Mj',
        at_hash: 'hash',
        azp: 'ci-runner',
        department: 'finance',
        projects: ['a', 'b'],
        mixed: ['a', 1],
        count: 3,
        enabled: true,
        nested: { team: 'blue' },
      };
      const { attributes } = identityFromClaims(oidcIdp(), claims, {});
      expect({ ...attributes }).toEqual({
        preferred_username: 'alice',
        email: 'alice@corp.example',
        groups: ['engineers', 'ops'],
        azp: 'ci-runner',
        department: 'finance',
        projects: ['a', 'b'],
      });
    });

    it('copies arrays instead of sharing them with the claims', () => {
      const projects = ['a'];
      const { attributes } = identityFromClaims(oidcIdp(), { ...base, projects }, {});
      projects.push('b');
      expect(attributes.projects).toEqual(['a']);
    });
  });
});
