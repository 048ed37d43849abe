/**
 * SAML response fixtures, one function per case, named by what is signed and what was done to it (as
 * node-saml's own fixture matrix is). Built programmatically from the test IdP (test/support/saml-idp.ts)
 * so every fixture is fresh (valid times, unique IDs) and answers the request the test just started.
 * Every function returns the base64 SAMLResponse as an IdP (or an attacker) would post it.
 *
 * The attacker's goal in the wrapping cases is always the same: be `admin` in group `admins`, while the
 * only signature available is one the IdP made for `alice` in group `engineers`.
 */
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Clock } from '../../../src/clock.js';
import { systemClock } from '../../../src/clock.js';
import { idpSchema, type SamlIdpConfig } from '../../../src/config/schema.js';
import { SamlServiceProvider } from '../../../src/auth/saml/service-provider.js';
import type { Store } from '../../../src/store/types.js';
import { capturingLogger } from '../../support/app.js';
import {
  encodeResponse,
  generateSamlKeyPair,
  samlId,
  TestSamlIdp,
  XML_ALGORITHMS,
  type ResponseOptions,
  type SamlKeyPair,
} from '../../support/saml-idp.js';
import { memoryStoreKind } from '../../support/stores.js';

export const PUBLIC_URL = 'https://fedproxy.test.example';
export const IDP_ID = 'corp';
export const ACS_URL = `${PUBLIC_URL}/auth/saml/${IDP_ID}/acs`;
export const SP_ENTITY_ID = `${PUBLIC_URL}/auth/saml/${IDP_ID}/metadata`;
export const STS_URL = `${PUBLIC_URL}/sts`;
export const GROUPS_ATTRIBUTE = 'http://schemas.xmlsoap.org/claims/Group';
export const EMAIL_ATTRIBUTE = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';

export interface SamlTestKeys {
  idp: TestSamlIdp;
  /** Someone else's key pair: signs with a valid-looking certificate that fedproxy never configured. */
  attacker: SamlKeyPair;
  /** fedproxy's own key pairs (AuthnRequest signing, assertion decryption). */
  spSigning: SamlKeyPair;
  spDecryption: SamlKeyPair;
}

/** RSA key generation takes a moment: once per test file (beforeAll). */
export async function samlTestKeys(): Promise<SamlTestKeys> {
  const [idp, attacker, spSigning, spDecryption] = await Promise.all([
    TestSamlIdp.create(),
    generateSamlKeyPair('attacker'),
    generateSamlKeyPair('fedproxy SP signing'),
    generateSamlKeyPair('fedproxy SP decryption'),
  ]);
  return { idp, attacker, spSigning, spDecryption };
}

/** The IdP's settings as an admin would write them (entity ID, SSO URL, certificate), validated by the schema. */
export function samlIdpConfig(keys: SamlTestKeys, overrides: Record<string, unknown> = {}): SamlIdpConfig {
  const parsed = idpSchema.parse({
    id: IDP_ID,
    type: 'saml',
    entityId: keys.idp.entityId,
    entryPoint: keys.idp.ssoUrl,
    certificates: [keys.idp.keys.certificate],
    attributes: { groups: GROUPS_ATTRIBUTE, email: EMAIL_ATTRIBUTE },
    decryption: { key: keys.spDecryption.privateKey, certificate: keys.spDecryption.certificate },
    ...overrides,
  });
  if (parsed.type !== 'saml') throw new Error('not a saml idp');
  return parsed;
}

export interface TestServiceProvider {
  sp: SamlServiceProvider;
  store: Store;
  lines: string[];
}

export async function testServiceProvider(
  keys: SamlTestKeys,
  options: { config?: Record<string, unknown>; store?: Store; clock?: Clock } = {},
): Promise<TestServiceProvider> {
  const clock = options.clock ?? systemClock;
  const store = options.store ?? memoryStoreKind().make(clock);
  const { logger, lines } = capturingLogger();
  const sp = await SamlServiceProvider.create(samlIdpConfig(keys, options.config), {
    store,
    clock,
    logger,
    publicUrl: PUBLIC_URL,
  });
  return { sp, store, lines };
}

const serializer = new XMLSerializer();
const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

function only(document: Document, namespace: string, localName: string): Element {
  const found = document.getElementsByTagNameNS(namespace, localName);
  if (found.length !== 1) throw new Error(`fixture: expected one ${localName}, found ${found.length}`);
  return found[0]!;
}

/**
 * The fixture functions for one test: `base` fixes what the case does not vary (normally the
 * InResponseTo of a request the test started).
 */
export function samlFixtures(keys: SamlTestKeys, base: Partial<ResponseOptions> = {}) {
  const { idp } = keys;
  const options = (overrides: Partial<ResponseOptions> = {}): ResponseOptions => ({
    destination: ACS_URL,
    audience: SP_ENTITY_ID,
    nameId: 'alice',
    attributes: { [GROUPS_ATTRIBUTE]: ['engineers'], [EMAIL_ATTRIBUTE]: 'alice@corp.example' },
    ...base,
    ...overrides,
  });
  const build = async (overrides: Partial<ResponseOptions> = {}) => idp.response(options(overrides));
  const encoded = async (overrides: Partial<ResponseOptions> = {}) => encodeResponse(await build(overrides));
  /** The attacker's own unsigned assertion, valid in every other respect. */
  const evilAssertion = (assertionId = samlId()) =>
    parse(
      idp.assertionXml({
        ...options({ nameId: 'admin', attributes: { [GROUPS_ATTRIBUTE]: ['admins'] } }),
        recipient: ACS_URL,
        assertionId,
      }),
    ).documentElement!;
  const spEncryption = { certificate: keys.spDecryption.certificate, publicKey: keys.spDecryption.publicKey };

  return {
    options,
    build,

    // --- accepted ---
    /** Signed assertion (the AD FS / Entra ID default), unsigned Response. */
    responseUnsignedAssertionSigned: (o: Partial<ResponseOptions> = {}) => encoded(o),
    responseSignedAssertionSigned: (o: Partial<ResponseOptions> = {}) => encoded({ sign: 'both', ...o }),
    /** Signed, then encrypted for fedproxy's decryption certificate. */
    encryptedAssertionSigned: (o: Partial<ResponseOptions> = {}) =>
      encoded({ encryptFor: spEncryption, ...o }),
    responseSignedEncryptedAssertionSigned: (o: Partial<ResponseOptions> = {}) =>
      encoded({ sign: 'both', encryptFor: spEncryption, ...o }),

    // --- signatures ---
    /** The Response is signed, the assertion inside it is not. */
    responseRootSignedAssertionUnsigned: () => encoded({ sign: 'response' }),
    responseUnsignedAssertionUnsigned: () => encoded({ sign: 'none' }),
    /** The IdP's signature on the assertion removed (stripped signature). */
    assertionSignatureStripped: async () => {
      const document = parse(await build());
      const signature = only(document, DSIG_NS, 'Signature');
      signature.parentNode!.removeChild(signature);
      return encodeResponse(serializer.serializeToString(document));
    },
    /** Signed by the attacker's key, whose certificate is in KeyInfo. */
    assertionSignedByKeyInfoCertificate: () =>
      encoded({ signOptions: { keys: keys.attacker, keyInfoCertificate: keys.attacker.certificate } }),
    /** The assertion is signed; the Response carries a signature that does not verify (attacker's key). */
    responseSignatureInvalidAssertionSigned: () =>
      encoded({ sign: 'both', responseSignOptions: { keys: keys.attacker } }),
    /** Signed assertion whose NameID was changed after signing. */
    assertionSignedThenNameIdChanged: async () =>
      encodeResponse((await build()).replace('>alice</saml:NameID>', '>admin</saml:NameID>')),
    assertionSignedRsaSha1: () =>
      encoded({
        signOptions: { signatureAlgorithm: XML_ALGORITHMS.rsaSha1, digestAlgorithm: XML_ALGORITHMS.sha1 },
      }),
    assertionSignedRsaSha256DigestSha1: () =>
      encoded({ signOptions: { digestAlgorithm: XML_ALGORITHMS.sha1 } }),
    /** HMAC-SHA1 keyed with the IdP's public certificate: the key-confusion attack. */
    assertionSignedHmacWithPublicCertificate: () =>
      encoded({ signOptions: { hmacWithPublicCertificate: true } }),
    encryptedAssertionSignedRsaSha1: () =>
      encoded({
        encryptFor: spEncryption,
        signOptions: { signatureAlgorithm: XML_ALGORITHMS.rsaSha1, digestAlgorithm: XML_ALGORITHMS.sha1 },
      }),
    encryptedAssertionRsa15KeyTransport: () =>
      encoded({ encryptFor: { ...spEncryption, keyTransport: 'rsa-1_5' } }),

    // --- signature wrapping (identity must come only from the signed bytes) ---
    /** The signed assertion moved into the Response's Extensions; an unsigned evil one where the code reads. */
    wrappingSignedAssertionInExtensions: async () => {
      const document = parse(await build());
      const signed = only(document, SAML_NS, 'Assertion');
      const response = document.documentElement!;
      const extensions = document.createElementNS(SAMLP_NS, 'samlp:Extensions');
      response.replaceChild(document.importNode(evilAssertion(), true), signed);
      extensions.appendChild(signed);
      response.insertBefore(extensions, response.getElementsByTagNameNS(SAMLP_NS, 'Status')[0]!);
      return encodeResponse(serializer.serializeToString(document));
    },
    /** An unsigned evil assertion that carries the signed one nested inside it (in Advice). */
    wrappingSignedAssertionNestedInEvil: async () => {
      const document = parse(await build());
      const signed = only(document, SAML_NS, 'Assertion');
      const evil = document.importNode(evilAssertion(), true) as Element;
      const advice = document.createElementNS(SAML_NS, 'saml:Advice');
      signed.parentNode!.replaceChild(evil, signed);
      advice.appendChild(signed);
      evil.insertBefore(advice, evil.getElementsByTagNameNS(SAML_NS, 'AuthnStatement')[0]!);
      return encodeResponse(serializer.serializeToString(document));
    },
    /** An evil assertion with the IdP's Signature copied in, the signed original hidden in the signature's Object. */
    wrappingEvilAssertionWithCopiedSignature: async () => {
      const document = parse(await build());
      const signed = only(document, SAML_NS, 'Assertion');
      const signature = only(document, DSIG_NS, 'Signature');
      const evil = document.importNode(evilAssertion(), true) as Element;
      const copied = signature.cloneNode(true) as Element;
      const object = document.createElementNS(DSIG_NS, 'ds:Object');
      evil.insertBefore(copied, evil.getElementsByTagNameNS(SAML_NS, 'Subject')[0]!);
      signed.parentNode!.replaceChild(evil, signed);
      object.appendChild(signed);
      copied.appendChild(object);
      return encodeResponse(serializer.serializeToString(document));
    },
    /** An evil assertion with the same ID as the signed one, placed before it. */
    wrappingEvilAssertionSameIdBeforeSigned: async () => {
      const document = parse(await build());
      const signed = only(document, SAML_NS, 'Assertion');
      const evil = document.importNode(evilAssertion(signed.getAttribute('ID')!), true);
      signed.parentNode!.insertBefore(evil, signed);
      return encodeResponse(serializer.serializeToString(document));
    },
    /** The signed assertion first, an evil one after it (for code that reads the last). */
    wrappingEvilAssertionAfterSigned: async () => {
      const document = parse(await build());
      document.documentElement!.appendChild(document.importNode(evilAssertion(), true));
      return encodeResponse(serializer.serializeToString(document));
    },
    /** A whole signed Response nested in the Extensions of an unsigned evil Response. */
    wrappingSignedResponseInsideEvilResponse: async () => {
      const signedXml = await build({ sign: 'both' });
      const evilXml = idp.wrapInResponse(new XMLSerializer().serializeToString(evilAssertion()), {
        destination: ACS_URL,
        ...(base.inResponseTo === undefined ? {} : { inResponseTo: base.inResponseTo }),
      });
      const evil = parse(evilXml);
      const extensions = evil.createElementNS(SAMLP_NS, 'samlp:Extensions');
      extensions.appendChild(evil.importNode(parse(signedXml).documentElement!, true));
      evil.documentElement!.insertBefore(extensions, evil.getElementsByTagNameNS(SAMLP_NS, 'Status')[0]!);
      return encodeResponse(serializer.serializeToString(evil));
    },

    /** Another element (in Extensions) carrying the signed assertion's ID, for reference-resolution confusion. */
    duplicateIdOnAnotherElement: async () => {
      const document = parse(await build());
      const signed = only(document, SAML_NS, 'Assertion');
      const extensions = document.createElementNS(SAMLP_NS, 'samlp:Extensions');
      extensions.setAttributeNS('urn:example:evil', 'evil:Id', signed.getAttribute('ID')!);
      document.documentElement!.insertBefore(
        extensions,
        document.getElementsByTagNameNS(SAMLP_NS, 'Status')[0]!,
      );
      return encodeResponse(serializer.serializeToString(document));
    },
    /** The assertion's Signature copied into the Response's Extensions (a signature where none belongs). */
    signatureInExtensions: async () => {
      const document = parse(await build());
      const extensions = document.createElementNS(SAMLP_NS, 'samlp:Extensions');
      extensions.appendChild(only(document, DSIG_NS, 'Signature').cloneNode(true));
      document.documentElement!.insertBefore(
        extensions,
        document.getElementsByTagNameNS(SAMLP_NS, 'Status')[0]!,
      );
      return encodeResponse(serializer.serializeToString(document));
    },

    // --- comments and whitespace ---
    /** The IdP signed NameID `alice.evil` (the attacker's own account); a comment is added after signing. */
    commentInNameId: async () =>
      encodeResponse(
        (await build({ nameId: 'alice.evil' })).replace(
          '>alice.evil</saml:NameID>',
          '>alice<!---->.evil</saml:NameID>',
        ),
      ),
    /** The IdP signed group `admins.evil`; a comment turns it into `admins` for a naive reader. */
    commentInGroupValue: async () =>
      encodeResponse(
        (await build({ attributes: { [GROUPS_ATTRIBUTE]: ['admins.evil'] } })).replace(
          '>admins.evil</saml:AttributeValue>',
          '>admins<!---->.evil</saml:AttributeValue>',
        ),
      ),

    // --- XML ---
    withDoctypeAndEntity: async () =>
      encodeResponse(
        (await build()).replace(/^(<\?xml[^>]*\?>)/, '$1<!DOCTYPE samlp:Response [<!ENTITY who "admin">]>'),
      ),
    /** A DTD without entities, which node-saml 5.1 accepts. */
    withDtdWithoutEntities: async () =>
      encodeResponse((await build()).replace(/^(<\?xml[^>]*\?>)/, '$1<!DOCTYPE samlp:Response>')),
    withProcessingInstruction: async () =>
      encodeResponse((await build()).replace('<samlp:Status>', '<?evil instruction?><samlp:Status>')),
    withSecondRoot: async () => {
      const xml = await build();
      return encodeResponse(`${xml}${xml.replace(/^<\?xml[^>]*\?>/, '')}`);
    },
    /** Larger than `maxBytes` once base64-encoded (padding in an attribute). */
    oversized: (maxBytes: number) =>
      encoded({ attributes: { padding: 'x'.repeat(Math.ceil(maxBytes * 0.8)) } }),
    notBase64: async () => '!!not base64!!',

    // --- binding and audience ---
    wrongAudience: () => encoded({ audience: 'https://other-sp.example/saml' }),
    wrongDestination: () => encoded({ destination: 'https://other-sp.example/acs', recipient: ACS_URL }),
    missingDestination: () => encoded({ destination: null, recipient: ACS_URL }),
    wrongRecipient: () => encoded({ recipient: 'https://other-sp.example/acs' }),
    wrongAssertionIssuer: () => encoded({ issuer: 'https://evil-idp.example' }),
    wrongResponseIssuer: () => encoded({ responseIssuer: 'https://evil-idp.example' }),
    failedStatus: () =>
      idp
        .response(options({ status: 'urn:oasis:names:tc:SAML:2.0:status:Responder' }))
        .then((xml) =>
          encodeResponse(
            xml.replace(
              /<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"\/>/,
              '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode>',
            ),
          ),
        ),

    // --- time ---
    /** Conditions and confirmation ended ten minutes ago. */
    expired: (now = Date.now()) =>
      encoded({
        now: now - 20 * 60_000,
        notOnOrAfter: now - 10 * 60_000,
        confirmationNotOnOrAfter: now - 10 * 60_000,
      }),
    /** Conditions still valid, but the bearer confirmation ended ten minutes ago. */
    confirmationExpired: (now = Date.now()) => encoded({ confirmationNotOnOrAfter: now - 10 * 60_000 }),
    /** Issued by an IdP whose clock is ten minutes ahead. */
    notYetValid: (now = Date.now()) => encoded({ now: now + 10 * 60_000 }),
  };
}
