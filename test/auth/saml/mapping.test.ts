/**
 * Attribute mapping: from the signed assertion to an Identity, per the IdP's `attributes` settings.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { renderPolicyTemplate } from '../../../src/policy/templates.js';
import type { ResponseOptions } from '../../support/saml-idp.js';
import {
  EMAIL_ATTRIBUTE,
  GROUPS_ATTRIBUTE,
  samlFixtures,
  samlTestKeys,
  testServiceProvider,
  type SamlTestKeys,
} from './fixtures.js';
import { expectRefused } from './refusals.js';

let keys: SamlTestKeys;
beforeAll(async () => {
  keys = await samlTestKeys();
});

const UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const GUID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

/** Signs in with a response built from `options`, under IdP settings `config`. */
async function signIn(options: Partial<ResponseOptions>, config: Record<string, unknown> = {}) {
  const { sp } = await testServiceProvider(keys, { config });
  const { requestId } = await sp.startSignIn('/');
  const fixtures = samlFixtures(keys, { inResponseTo: requestId });
  return sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned(options));
}

describe('SAML attribute mapping', () => {
  it('maps NameID, groups, e-mail and every other attribute; times from the assertion', async () => {
    const now = Date.now();
    const { identity } = await signIn({
      now,
      nameId: 'alice',
      authnInstant: now - 60_000,
      sessionNotOnOrAfter: now + 3600_000,
      attributes: {
        [GROUPS_ATTRIBUTE]: ['engineers', 'data-analysts', 'engineers', ''],
        [EMAIL_ATTRIBUTE]: 'alice@corp.example',
        department: 'research',
        'urn:oid:1.3.6.1.4.1.5923.1.1.1.7': ['entitlement-a', 'entitlement-b'],
      },
    });
    expect(identity).toEqual({
      idp: 'corp',
      protocol: 'saml',
      issuer: keys.idp.entityId,
      subject: 'alice',
      username: 'alice',
      email: 'alice@corp.example',
      groups: ['engineers', 'data-analysts'],
      attributes: {
        [GROUPS_ATTRIBUTE]: ['engineers', 'data-analysts', 'engineers', ''],
        [EMAIL_ATTRIBUTE]: 'alice@corp.example',
        department: 'research',
        'urn:oid:1.3.6.1.4.1.5923.1.1.1.7': ['entitlement-a', 'entitlement-b'],
      },
      authTime: now - 60_000,
      expiresAt: now + 3600_000,
    });
    expect(Object.getPrototypeOf(identity.attributes)).toBeNull();
  });

  it('a single group value (which arrives as a string) is one group', async () => {
    const { identity } = await signIn({ attributes: { [GROUPS_ATTRIBUTE]: 'engineers' } });
    expect(identity.groups).toEqual(['engineers']);
    expect(identity.attributes[GROUPS_ATTRIBUTE]).toBe('engineers');
  });

  it('no groups attribute is no group', async () => {
    const { identity } = await signIn({ attributes: {} });
    expect(identity.groups).toEqual([]);
  });

  it('takes the subject and username from configured attributes', async () => {
    const { identity } = await signIn(
      {
        nameId: 'transient-123',
        nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
        attributes: { [GUID]: '6d1c0e0a-4b4e-4e4c-9d0a-2f4f5a1b2c3d', [UPN]: 'alice@corp.example' },
      },
      { attributes: { subject: GUID, username: UPN } },
    );
    expect(identity).toMatchObject({
      subject: '6d1c0e0a-4b4e-4e4c-9d0a-2f4f5a1b2c3d',
      username: 'alice@corp.example',
    });
  });

  it("expiresAt falls back to the assertion's NotOnOrAfter without SessionNotOnOrAfter", async () => {
    const now = Date.now();
    const { identity } = await signIn({ now, sessionNotOnOrAfter: null, notOnOrAfter: now + 600_000 });
    expect(identity.expiresAt).toBe(now + 600_000);
  });

  it('makes attributes available to ${saml:<name>} policy templates', async () => {
    const { identity } = await signIn({ attributes: { department: 'research' } });
    const policy = renderPolicyTemplate(
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::dept/${saml:department}/*'] },
        ],
      },
      identity,
      { maxValueLength: 128, groups: [] },
    );
    expect(policy).toMatchObject({ Statement: [{ Resource: ['arn:aws:s3:::dept/research/*'] }] });
  });

  it('keeps values exactly as signed: " engineers" is not engineers', async () => {
    const { identity } = await signIn({ attributes: { [GROUPS_ATTRIBUTE]: [' engineers', 'engineers '] } });
    expect(identity.groups).toEqual([' engineers', 'engineers ']);
  });

  it('refuses a subject with leading or trailing whitespace', async () => {
    await expectRefused(signIn({ nameId: ' alice' }), 'subject', /leading or trailing whitespace/);
    await expectRefused(signIn({ nameId: 'alice\n' }), 'subject', /leading or trailing whitespace/);
  });

  it('refuses a subject with control or invisible format characters', async () => {
    await expectRefused(signIn({ nameId: 'ali\u200bce' }), 'subject', /control characters/);
  });

  it('refuses a response without a subject', async () => {
    await expectRefused(signIn({ nameId: null }), 'subject', /no subject \(NameID is absent/);
  });

  it('refuses a multi-valued subject attribute', async () => {
    await expectRefused(
      signIn({ attributes: { [GUID]: ['a', 'b'] } }, { attributes: { subject: GUID } }),
      'subject',
      /has 2 values/,
    );
  });

  it('refuses a structured or nil group value', async () => {
    await expectRefused(
      signIn({
        attributes: {},
        extraAttributeXml: `<saml:Attribute Name="${GROUPS_ATTRIBUTE}"><saml:AttributeValue><saml:NameID>x</saml:NameID></saml:AttributeValue></saml:Attribute>`,
      }),
      'attributes',
      /structured or nil/,
    );
    await expectRefused(
      signIn({
        attributes: {},
        extraAttributeXml: `<saml:Attribute Name="${GROUPS_ATTRIBUTE}"><saml:AttributeValue xsi:nil="true"/></saml:Attribute>`,
      }),
      'attributes',
      /structured or nil/,
    );
  });

  it('refuses a group value with a control character', async () => {
    // A tab is a legal XML character and survives signing; the subject (NameID alice) is clean.
    await expectRefused(
      signIn({ attributes: { [GROUPS_ATTRIBUTE]: ['engineers', 'data\tanalysts'] } }),
      'attributes',
      /^a value of http:\/\/schemas\.xmlsoap\.org\/claims\/Group has control characters$/,
    );
  });

  it('never lets an attribute name reach a prototype', async () => {
    const { identity } = await signIn({
      attributes: { ['__proto__']: 'polluted', constructor: 'x', department: 'research' },
    });
    expect(Object.keys(identity.attributes).sort()).toEqual(['department']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
