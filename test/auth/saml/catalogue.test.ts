/**
 * The security catalogue's "SAML service provider" section, one test per class: each fixture is refused,
 * by the check meant for it, with a reason that says what was wrong. Every case answers a request the
 * test just started, so nothing but the attack itself is wrong with the response.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeResponse } from '../../support/saml-idp.js';
import { ACS_URL, samlFixtures, samlTestKeys, testServiceProvider, type SamlTestKeys } from './fixtures.js';
import { expectRefused } from './refusals.js';

let keys: SamlTestKeys;
beforeAll(async () => {
  keys = await samlTestKeys();
});

/** A service provider with a sign-in in progress, and the fixtures that answer it. */
async function pendingSignIn(config: Record<string, unknown> = {}) {
  const { sp, lines } = await testServiceProvider(keys, { config });
  const { requestId } = await sp.startSignIn('/portal');
  return { sp, lines, requestId, fixtures: samlFixtures(keys, { inResponseTo: requestId }) };
}

describe('a valid response (the baseline every refusal differs from in one way)', () => {
  it('is accepted with a signed assertion, and the identity is the signed one', async () => {
    const { sp, fixtures } = await pendingSignIn();
    const { identity, returnTo } = await sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned());
    expect(identity).toMatchObject({
      protocol: 'saml',
      subject: 'alice',
      username: 'alice',
      groups: ['engineers'],
    });
    expect(returnTo).toBe('/portal');
  });
});

describe('signature wrapping: the identity comes only from the bytes the signature covers', () => {
  it('refuses the signed assertion moved into Extensions with an unsigned one where the code reads', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingSignedAssertionInExtensions()),
      'structure',
      /2 assertions/,
    );
  });

  it('refuses an unsigned assertion that nests the signed one (in Advice)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingSignedAssertionNestedInEvil()),
      'structure',
      /2 assertions/,
    );
  });

  it("refuses an unsigned assertion carrying a copy of the IdP's signature, the original hidden in ds:Object", async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingEvilAssertionWithCopiedSignature()),
      'structure',
      /2 assertions/,
    );
  });

  it('refuses an unsigned assertion with the same ID placed before the signed one', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingEvilAssertionSameIdBeforeSigned()),
      'structure',
      /2 assertions/,
    );
  });

  it('refuses an unsigned assertion after the signed one', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingEvilAssertionAfterSigned()),
      'structure',
      /2 assertions/,
    );
  });

  it('refuses a signed Response nested inside an unsigned evil Response', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrappingSignedResponseInsideEvilResponse()),
      'structure',
      /2 assertions/,
    );
  });

  it("refuses another element carrying the signed assertion's ID", async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.duplicateIdOnAnotherElement()),
      'structure',
      /appears twice/,
    );
  });

  it('refuses a signature in a place where the protocol puts none', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.signatureInExtensions()),
      'structure',
      /where none belongs/,
    );
  });

  it('refuses a signed assertion whose NameID was changed after signing', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedThenNameIdChanged()),
      'signature',
      /Invalid signature/,
    );
  });
});

describe('comment injection: a comment inside a signed value must not change who the user is', () => {
  it('refuses a comment in the NameID (alice<!---->.evil) before any signature check', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.commentInNameId()), 'xml', /has a comment/);
  });

  it('refuses a comment in a group value (admins<!---->.evil)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.commentInGroupValue()), 'xml', /has a comment/);
  });
});

describe('signatures', () => {
  it('refuses a stripped signature', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignatureStripped()),
      'signature',
      /Invalid signature/,
    );
  });

  it('refuses an unsigned assertion inside a signed Response (assertions must be signed)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.responseRootSignedAssertionUnsigned()),
      'signature',
      /Invalid signature/,
    );
  });

  it('refuses a response where nothing is signed', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionUnsigned()),
      'signature',
      /Invalid signature/,
    );
  });

  it('refuses a signature by the certificate carried in KeyInfo instead of a configured one', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedByKeyInfoCertificate()),
      'signature',
      /Invalid signature/,
    );
  });

  it('refuses a Response signature that does not verify, even when the assertion signature does', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.responseSignatureInvalidAssertionSigned()),
      'signature',
      /Invalid document signature/,
    );
  });

  it('with wantAuthnResponseSigned, refuses a response whose Response is unsigned', async () => {
    const { sp, fixtures } = await pendingSignIn({ wantAuthnResponseSigned: true });
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned()),
      'signature',
      /Invalid document signature/,
    );
    const again = await pendingSignIn({ wantAuthnResponseSigned: true });
    await expect(
      again.sp.finishSignIn(await again.fixtures.responseSignedAssertionSigned()),
    ).resolves.toBeDefined();
  });
});

describe('weak algorithms', () => {
  it('refuses RSA-SHA1 signatures', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedRsaSha1()),
      'algorithm',
      /weak signature algorithm "rsa-sha1"/,
    );
  });

  it('refuses SHA-1 digests under an RSA-SHA256 signature', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedRsaSha256DigestSha1()),
      'algorithm',
      /weak digest algorithm "sha1"/,
    );
  });

  it('refuses HMAC signatures (keyed with the public certificate)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedHmacWithPublicCertificate()),
      'algorithm',
      /weak signature algorithm "hmac-sha1"/,
    );
  });

  it('refuses SHA-1 inside an encrypted assertion (checked after decryption)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.encryptedAssertionSignedRsaSha1()),
      'algorithm',
      /rsa-sha1/,
    );
  });

  it('refuses RSA PKCS#1 v1.5 key transport before decrypting', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.encryptedAssertionRsa15KeyTransport()),
      'algorithm',
      /weak encryption algorithm "rsa-1_5"/,
    );
  });
});

describe('XML before any crypto', () => {
  it('refuses a DOCTYPE with an entity', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.withDoctypeAndEntity()), 'xml', /DOCTYPE/);
  });

  it('refuses a DTD without entities (which node-saml accepts)', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.withDtdWithoutEntities()), 'xml', /DOCTYPE/);
  });

  it('refuses a processing instruction', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.withProcessingInstruction()),
      'xml',
      /processing instruction/,
    );
  });

  it('refuses an XML declaration that names an encoding other than UTF-8', async () => {
    // The declaration is outside the signed assertion, and the bytes are plain ASCII: only the declared
    // encoding differs from a valid response.
    const { sp, fixtures } = await pendingSignIn();
    const xml = await fixtures.build();
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>/);
    await expectRefused(
      sp.finishSignIn(encodeResponse(xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'))),
      'xml',
      /^the response declares encoding "ISO-8859-1", not UTF-8$/,
    );
  });

  it('refuses a second root element', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.withSecondRoot()),
      'xml',
      /not well-formed.*Only one element/,
    );
  });

  it('refuses a body over maxResponseBytes (413) before decoding it', async () => {
    const { sp, fixtures } = await pendingSignIn({ maxResponseBytes: 16 * 1024 });
    const error = await expectRefused(
      sp.finishSignIn(await fixtures.oversized(16 * 1024)),
      'size',
      /exceeds 16384/,
    );
    expect(error.status).toBe(413);
  });

  it('refuses a SAMLResponse that is not base64', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.notBase64()), 'encoding', /not base64/);
  });
});

describe('audience, destination, recipient, issuer', () => {
  it('refuses another Audience', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.wrongAudience()), 'audience', /audience mismatch/);
  });

  it('refuses another Destination, and a missing one', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrongDestination()),
      'destination',
      /other-sp\.example/,
    );
    await expectRefused(sp.finishSignIn(await fixtures.missingDestination()), 'destination', /\(absent\)/);
  });

  it('refuses another Recipient', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(sp.finishSignIn(await fixtures.wrongRecipient()), 'recipient', /other-sp\.example/);
  });

  it('refuses an assertion Issuer or a Response Issuer other than the IdP', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.wrongAssertionIssuer()),
      'issuer',
      /assertion Issuer "https:\/\/evil-idp/,
    );
    await expectRefused(
      sp.finishSignIn(await fixtures.wrongResponseIssuer()),
      'issuer',
      /Response Issuer "https:\/\/evil-idp/,
    );
  });

  it('refuses an assertion Issuer whose Format is not the entity format, and accepts the entity format', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(
        await fixtures.responseUnsignedAssertionSigned({
          issuerFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        }),
      ),
      'issuer',
      /^assertion Issuer Format "urn:oasis:names:tc:SAML:2\.0:nameid-format:persistent"$/,
    );
    await expect(
      sp.finishSignIn(
        await fixtures.responseUnsignedAssertionSigned({
          issuerFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity',
        }),
      ),
    ).resolves.toBeDefined();
  });

  it("refuses a non-success status, telling the user the IdP's codes", async () => {
    const { sp, fixtures } = await pendingSignIn();
    const error = await expectRefused(
      sp.finishSignIn(await fixtures.failedStatus()),
      'status',
      /Responder\/AuthnFailed/,
    );
    expect(error.message).toBe('The identity provider refused the sign-in (Responder/AuthnFailed)');
  });
});

describe('time', () => {
  it('refuses an expired assertion', async () => {
    const { sp, fixtures } = await pendingSignIn();
    const error = await expectRefused(sp.finishSignIn(await fixtures.expired()), 'expired', /expired/);
    expect(error.code).toBe('ExpiredTokenException');
  });

  it('refuses an expired bearer confirmation inside valid Conditions', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await expectRefused(
      sp.finishSignIn(await fixtures.confirmationExpired()),
      'expired',
      /SubjectConfirmationData NotOnOrAfter/,
    );
  });

  it('refuses an AuthnStatement whose SessionNotOnOrAfter has passed, inside valid Conditions', async () => {
    // node-saml never looks at SessionNotOnOrAfter; Conditions and the bearer confirmation are still valid.
    const { sp, fixtures } = await pendingSignIn();
    const error = await expectRefused(
      sp.finishSignIn(
        await fixtures.responseUnsignedAssertionSigned({ sessionNotOnOrAfter: Date.now() - 10 * 60_000 }),
      ),
      'expired',
      /^SessionNotOnOrAfter was /,
    );
    expect(error.code).toBe('ExpiredTokenException');
  });

  it('refuses an assertion IssueInstant beyond the clock skew, inside valid Conditions', async () => {
    // Only the assertion's IssueInstant is ahead (not the Response's, not any NotBefore); node-saml reads
    // it only for maxAssertionAgeMs, which fedproxy sets to 0.
    const { sp, fixtures } = await pendingSignIn({ clockSkewSeconds: 30 });
    await expectRefused(
      sp.finishSignIn(
        await fixtures.responseUnsignedAssertionSigned({ issueInstant: Date.now() + 10 * 60_000 }),
      ),
      'not-yet-valid',
      /^IssueInstant is /,
    );
  });

  it('refuses a bearer confirmation without NotOnOrAfter, even behind another confirmation that has one', async () => {
    // node-saml refuses a lone bearer confirmation without NotOnOrAfter by itself (it cannot parse the
    // absent time), but it checks only the first SubjectConfirmation whose times are valid, whatever its
    // Method. A sender-vouches confirmation in front satisfies it, so only fedproxy's check of the one
    // bearer confirmation is left to refuse.
    const { sp, fixtures } = await pendingSignIn();
    const { idp } = keys;
    const options = fixtures.options({ confirmationNotOnOrAfter: null });
    const bearer = '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">';
    const assertion = idp.assertionXml({ ...options, recipient: ACS_URL });
    expect(assertion).toContain(bearer);
    const senderVouches =
      '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:sender-vouches">' +
      `<saml:SubjectConfirmationData NotOnOrAfter="${new Date(Date.now() + 300_000).toISOString()}"/>` +
      '</saml:SubjectConfirmation>';
    const signed = idp.sign(assertion.replace(bearer, `${senderVouches}${bearer}`));
    await expectRefused(
      sp.finishSignIn(encodeResponse(idp.wrapInResponse(signed, options))),
      'assertion',
      /^the bearer SubjectConfirmationData has no NotOnOrAfter$/,
    );
  });

  it('refuses a not-yet-valid assertion beyond the clock skew, and accepts one within it', async () => {
    const { sp, fixtures } = await pendingSignIn({ clockSkewSeconds: 30 });
    await expectRefused(sp.finishSignIn(await fixtures.notYetValid()), 'not-yet-valid', /not yet valid/);
    await expect(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned({ now: Date.now() + 20_000 })),
    ).resolves.toBeDefined();
  });
});

describe('InResponseTo', () => {
  it('refuses a response without InResponseTo (unsolicited) when allowIdpInitiated is off', async () => {
    const { sp } = await pendingSignIn();
    const unsolicited = samlFixtures(keys);
    const error = await expectRefused(
      sp.finishSignIn(await unsolicited.responseUnsignedAssertionSigned()),
      'unsolicited',
      /no InResponseTo/,
    );
    expect(error.message).toMatch(/must start at fedproxy/);
  });

  it('refuses an InResponseTo that names no pending request', async () => {
    const { sp } = await pendingSignIn();
    const unknown = samlFixtures(keys, { inResponseTo: `_${'0'.repeat(40)}` });
    await expectRefused(
      sp.finishSignIn(await unknown.responseUnsignedAssertionSigned()),
      'in-response-to',
      /not a pending request/,
    );
  });

  it('refuses a second response to a request that was already completed', async () => {
    const { sp, fixtures } = await pendingSignIn();
    await sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned());
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned()),
      'in-response-to',
      /not a pending request/,
    );
  });

  it('refuses the same assertion posted twice (replay), before looking at its request', async () => {
    const { sp, fixtures } = await pendingSignIn();
    const response = await fixtures.responseUnsignedAssertionSigned();
    await sp.finishSignIn(response);
    await expectRefused(sp.finishSignIn(response), 'replay', /was accepted before/);
  });

  it('accepts an unsolicited (IdP-initiated) response only when allowIdpInitiated is on', async () => {
    const { sp } = await pendingSignIn({ allowIdpInitiated: true });
    const unsolicited = samlFixtures(keys);
    const result = await sp.finishSignIn(await unsolicited.responseUnsignedAssertionSigned());
    expect(result.identity.subject).toBe('alice');
    expect(result.returnTo).toBeUndefined();
  });
});

describe('login CSRF: a response is accepted only in the browser that started the sign-in (HTTPS)', () => {
  it('refuses a response posted without, or with another, binding, and keeps the request for its owner', async () => {
    const { sp } = await testServiceProvider(keys);
    const { requestId, binding } = await sp.startSignIn('/portal', { bindToBrowser: true });
    expect(binding).toMatch(/^[\w-]{32}$/);
    const fixtures = samlFixtures(keys, { inResponseTo: requestId });
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned()),
      'in-response-to',
      /another browser/,
    );
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned(), 'x'.repeat(32)),
      'in-response-to',
      /another browser/,
    );
    // The attempts above did not consume the request: its own browser still completes it.
    const { returnTo } = await sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned(), binding);
    expect(returnTo).toBe('/portal');
  });
});
