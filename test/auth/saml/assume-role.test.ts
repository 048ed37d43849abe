/**
 * AssumeRoleWithSAML as a service operation: `validateForAssumeRole` runs every check of the ACS except
 * InResponseTo, accepts `<publicUrl>/sts` as well as the ACS URL as Destination and Recipient, and shares
 * the replay cache with the ACS.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ACS_URL,
  samlFixtures,
  samlTestKeys,
  SP_ENTITY_ID,
  STS_URL,
  testServiceProvider,
  type SamlTestKeys,
} from './fixtures.js';
import { expectRefused } from './refusals.js';

let keys: SamlTestKeys;
beforeAll(async () => {
  keys = await samlTestKeys();
});

describe('validateForAssumeRole', () => {
  it('accepts an unsolicited response sent to the STS endpoint, without allowIdpInitiated', async () => {
    const { sp } = await testServiceProvider(keys);
    const fixtures = samlFixtures(keys, { destination: STS_URL });
    const now = Date.now();
    const result = await sp.validateForAssumeRole(
      await fixtures.responseUnsignedAssertionSigned({ now, notOnOrAfter: now + 300_000 }),
    );
    expect(result).toMatchObject({
      identity: { protocol: 'saml', subject: 'alice', groups: ['engineers'], issuer: keys.idp.entityId },
      issuer: keys.idp.entityId,
      audience: SP_ENTITY_ID,
      subject: 'alice',
      subjectType: 'persistent',
      assertionId: expect.stringMatching(/^_/),
    });
    expect(result.notOnOrAfter).toBe(now + 300_000 + 30_000);
  });

  it('accepts the ACS URL as Destination and Recipient too, and ignores an InResponseTo', async () => {
    const { sp } = await testServiceProvider(keys);
    const fixtures = samlFixtures(keys, { destination: ACS_URL, inResponseTo: '_request-of-another-client' });
    await expect(
      sp.validateForAssumeRole(await fixtures.responseUnsignedAssertionSigned()),
    ).resolves.toBeDefined();
  });

  it('reports a NameID format outside the SAML 2.0 prefix as sent', async () => {
    const { sp } = await testServiceProvider(keys);
    const fixtures = samlFixtures(keys, {
      destination: STS_URL,
      nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    });
    const result = await sp.validateForAssumeRole(await fixtures.responseUnsignedAssertionSigned());
    expect(result.subjectType).toBe('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified');
  });

  it('refuses any other Destination or Recipient', async () => {
    const { sp } = await testServiceProvider(keys);
    const fixtures = samlFixtures(keys, { destination: STS_URL });
    await expectRefused(
      sp.validateForAssumeRole(await fixtures.wrongDestination()),
      'destination',
      /other-sp/,
    );
    await expectRefused(sp.validateForAssumeRole(await fixtures.wrongRecipient()), 'recipient', /other-sp/);
  });

  it('accepts an assertion once, across both paths', async () => {
    const { sp } = await testServiceProvider(keys, { config: { allowIdpInitiated: true } });
    const fixtures = samlFixtures(keys, { destination: STS_URL, recipient: ACS_URL });
    const response = await fixtures.build({ destination: ACS_URL });
    const encoded = Buffer.from(response).toString('base64');
    await sp.validateForAssumeRole(encoded);
    await expectRefused(sp.validateForAssumeRole(encoded), 'replay', /accepted before/);
    await expectRefused(sp.finishSignIn(encoded), 'replay', /accepted before/);
  });

  it('applies the same signature, algorithm, XML and time checks', async () => {
    const { sp } = await testServiceProvider(keys);
    const fixtures = samlFixtures(keys, { destination: STS_URL });
    await expectRefused(
      sp.validateForAssumeRole(await fixtures.assertionSignatureStripped()),
      'signature',
      /Invalid/,
    );
    await expectRefused(
      sp.validateForAssumeRole(await fixtures.assertionSignedRsaSha1()),
      'algorithm',
      /rsa-sha1/,
    );
    await expectRefused(
      sp.validateForAssumeRole(await fixtures.wrappingSignedAssertionInExtensions()),
      'structure',
      /2 assertions/,
    );
    await expectRefused(sp.validateForAssumeRole(await fixtures.withDtdWithoutEntities()), 'xml', /DOCTYPE/);
    const expired = await expectRefused(
      sp.validateForAssumeRole(await fixtures.expired()),
      'expired',
      /expired/,
    );
    expect(expired.code).toBe('ExpiredTokenException');
    await expectRefused(sp.validateForAssumeRole(await fixtures.wrongAudience()), 'audience', /mismatch/);
  });
});
