/**
 * node-saml 5.1.0 on its own, in the strict settings fedproxy gives it, without fedproxy's checks: the
 * second line of defence, and the facts that made fedproxy add its own checks. If an upgrade changes one
 * of these, this file says which decision to revisit.
 */
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ACS_URL,
  GROUPS_ATTRIBUTE,
  samlFixtures,
  samlTestKeys,
  SP_ENTITY_ID,
  type SamlTestKeys,
} from './fixtures.js';

let keys: SamlTestKeys;
let saml: SAML;
beforeAll(async () => {
  keys = await samlTestKeys();
  saml = new SAML({
    issuer: SP_ENTITY_ID,
    callbackUrl: ACS_URL,
    idpCert: keys.idp.keys.certificate,
    idpIssuer: keys.idp.entityId,
    audience: SP_ENTITY_ID,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    signatureAlgorithm: 'sha256',
    acceptedClockSkewMs: 30_000,
    validateInResponseTo: ValidateInResponseTo.never,
  });
});

const validate = (samlResponse: string) => saml.validatePostResponseAsync({ SAMLResponse: samlResponse });

describe('node-saml alone: what holds', () => {
  it('reads the identity from the signed bytes: a comment cannot shorten the NameID or a group', async () => {
    const fixtures = samlFixtures(keys);
    const { profile: nameId } = await validate(await fixtures.commentInNameId());
    expect(nameId?.nameID).toBe('alice.evil');
    const { profile: group } = await validate(await fixtures.commentInGroupValue());
    expect(group?.[GROUPS_ATTRIBUTE]).toBe('admins.evil');
  });

  it('refuses every signature-wrapping layout', async () => {
    const fixtures = samlFixtures(keys);
    for (const wrapped of [
      fixtures.wrappingSignedAssertionInExtensions,
      fixtures.wrappingSignedAssertionNestedInEvil,
      fixtures.wrappingEvilAssertionWithCopiedSignature,
      fixtures.wrappingEvilAssertionSameIdBeforeSigned,
      fixtures.wrappingEvilAssertionAfterSigned,
      fixtures.wrappingSignedResponseInsideEvilResponse,
    ])
      await expect(validate(await wrapped()), wrapped.name).rejects.toThrow(/signature|assertions/i);
  });

  it('never trusts the certificate in KeyInfo, and has HMAC disabled', async () => {
    const fixtures = samlFixtures(keys);
    await expect(validate(await fixtures.assertionSignedByKeyInfoCertificate())).rejects.toThrow(
      'Invalid signature',
    );
    await expect(validate(await fixtures.assertionSignedHmacWithPublicCertificate())).rejects.toThrow(
      'Invalid signature',
    );
  });
});

describe('node-saml alone: what fedproxy has to check itself', () => {
  it('accepts SHA-1 signatures', async () => {
    await expect(validate(await samlFixtures(keys).assertionSignedRsaSha1())).resolves.toBeDefined();
  });

  it('accepts a DTD without entities', async () => {
    await expect(validate(await samlFixtures(keys).withDtdWithoutEntities())).resolves.toBeDefined();
  });

  it('does not check Destination, Recipient or the Issuer', async () => {
    const fixtures = samlFixtures(keys);
    await expect(validate(await fixtures.wrongDestination())).resolves.toBeDefined();
    await expect(validate(await fixtures.wrongRecipient())).resolves.toBeDefined();
    await expect(validate(await fixtures.wrongAssertionIssuer())).resolves.toBeDefined();
  });

  it('accepts the same assertion twice', async () => {
    const response = await samlFixtures(keys).responseUnsignedAssertionSigned();
    await validate(response);
    await expect(validate(response)).resolves.toBeDefined();
  });
});
