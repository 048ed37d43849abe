import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';
import { encrypt } from 'xml-encryption';

/**
 * The tests' SAML 2.0 identity provider: builds SAML responses as a real IdP would, signs them with
 * xml-crypto (RSA-SHA256, exclusive c14n, enveloped signature, certificate in KeyInfo), encrypts
 * assertions with xml-encryption, and has an option for every way an attacker or a broken IdP gets a
 * response wrong. Certificates are generated in the test with `selfsigned`.
 *
 *   const idp = await TestSamlIdp.create();
 *   const xml = idp.response({ destination: acs, audience: spEntityId, inResponseTo: requestId });
 *   const SAMLResponse = encodeResponse(xml);
 *
 * Building happens in three steps, so fixtures can tamper between them: `assertionXml` (unsigned),
 * `signAssertion` / `encryptAssertion`, then `wrapInResponse` and `signResponse`. `response()` does all.
 */

export interface SamlKeyPair {
  privateKey: string;
  publicKey: string;
  /** PEM. */
  certificate: string;
}

export async function generateSamlKeyPair(commonName: string): Promise<SamlKeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
  });
  return { privateKey: pems.private, publicKey: pems.public, certificate: pems.cert };
}

export const XML_ALGORITHMS = {
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  rsaSha512: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  rsaSha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  hmacSha1: 'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
} as const;

export interface SignOptions {
  /** The key that signs; the IdP's own by default (an attacker's key for the KeyInfo attack). */
  keys?: SamlKeyPair;
  signatureAlgorithm?: string;
  digestAlgorithm?: string;
  /** Put this certificate in KeyInfo (default: the signing key's certificate); null: no KeyInfo. */
  keyInfoCertificate?: string | null;
  /** Sign with HMAC-SHA1 keyed with the IdP's *public certificate* (the key-confusion attack). */
  hmacWithPublicCertificate?: boolean;
}

export interface AssertionOptions {
  audience: string;
  /** SubjectConfirmationData Recipient. */
  recipient: string;
  now?: number;
  assertionId?: string;
  issuer?: string;
  /** Issuer Format attribute; omitted by default. */
  issuerFormat?: string;
  nameId?: string | null;
  nameIdFormat?: string;
  /** SubjectConfirmationData InResponseTo; omitted when undefined. */
  inResponseTo?: string;
  issueInstant?: number;
  notBefore?: number | null;
  notOnOrAfter?: number | null;
  confirmationNotBefore?: number;
  confirmationNotOnOrAfter?: number | null;
  authnInstant?: number;
  sessionNotOnOrAfter?: number | null;
  attributes?: Record<string, string | string[]>;
  /** Raw XML inserted into the AttributeStatement (structured or nil values). */
  extraAttributeXml?: string;
  /** Extra audiences in the same AudienceRestriction. */
  extraAudiences?: string[];
}

export interface ResponseOptions extends Omit<AssertionOptions, 'recipient'> {
  /** Response Destination; null omits it. */
  destination: string | null;
  /** SubjectConfirmationData Recipient; defaults to the destination. */
  recipient?: string;
  responseId?: string;
  /** Response Issuer; defaults to the IdP entity ID, null omits it. */
  responseIssuer?: string | null;
  /** Response InResponseTo; defaults to `inResponseTo`, null omits it. */
  responseInResponseTo?: string | null;
  status?: string;
  /** What gets signed; default the assertion only (as AD FS and Entra ID do by default). */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  signOptions?: SignOptions;
  responseSignOptions?: SignOptions;
  /** Encrypt the (signed) assertion for this SP certificate. */
  encryptFor?: { certificate: string; publicKey: string; keyTransport?: 'rsa-oaep' | 'rsa-1_5' };
}

const iso = (ms: number) => new Date(ms).toISOString();

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function encodeResponse(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

export function decodeResponse(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

export function samlId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

export class TestSamlIdp {
  private constructor(
    readonly entityId: string,
    readonly ssoUrl: string,
    readonly keys: SamlKeyPair,
  ) {}

  static async create(
    options: { entityId?: string; ssoUrl?: string; keys?: SamlKeyPair } = {},
  ): Promise<TestSamlIdp> {
    return new TestSamlIdp(
      options.entityId ?? 'https://idp.test.example/saml',
      options.ssoUrl ?? 'https://idp.test.example/sso',
      options.keys ?? (await generateSamlKeyPair('test SAML IdP')),
    );
  }

  /** IdP metadata, as AD FS or Keycloak publish it. */
  metadataXml(options: { certificates?: string[]; validUntil?: number } = {}): string {
    const certificates = options.certificates ?? [this.keys.certificate];
    const keyDescriptors = certificates
      .map(
        (c) =>
          `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${bareCertificate(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
      )
      .join('');
    const validUntil = options.validUntil === undefined ? '' : ` validUntil="${iso(options.validUntil)}"`;
    return `<?xml version="1.0" encoding="UTF-8"?>
<!-- test IdP metadata -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(this.entityId)}"${validUntil}>
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ${keyDescriptors}
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${bareCertificate(this.keys.certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(this.ssoUrl)}/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(this.ssoUrl)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`;
  }

  /** An unsigned assertion, with fresh times around `now` by default (5 minutes of validity). */
  assertionXml(options: AssertionOptions): string {
    const now = options.now ?? Date.now();
    const id = options.assertionId ?? samlId();
    const issuer = options.issuer ?? this.entityId;
    const issuerFormat =
      options.issuerFormat === undefined ? '' : ` Format="${escapeXml(options.issuerFormat)}"`;
    const nameId =
      options.nameId === null
        ? ''
        : `<saml:NameID Format="${escapeXml(options.nameIdFormat ?? 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent')}">${escapeXml(options.nameId ?? 'alice')}</saml:NameID>`;
    const notBefore = options.notBefore === undefined ? now - 5_000 : options.notBefore;
    const notOnOrAfter = options.notOnOrAfter === undefined ? now + 300_000 : options.notOnOrAfter;
    const confirmationNotOnOrAfter =
      options.confirmationNotOnOrAfter === undefined ? now + 300_000 : options.confirmationNotOnOrAfter;
    const sessionNotOnOrAfter =
      options.sessionNotOnOrAfter === undefined ? now + 8 * 3600_000 : options.sessionNotOnOrAfter;
    const attr = (name: string, value: string | string[]) =>
      `<saml:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">${(Array.isArray(
        value,
      )
        ? value
        : [value]
      )
        .map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`)
        .join('')}</saml:Attribute>`;
    const attributes = Object.entries(options.attributes ?? {})
      .map(([name, value]) => attr(name, value))
      .join('');
    const audiences = [options.audience, ...(options.extraAudiences ?? [])]
      .map((a) => `<saml:Audience>${escapeXml(a)}</saml:Audience>`)
      .join('');
    return (
      `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${id}" Version="2.0" IssueInstant="${iso(options.issueInstant ?? now)}">` +
      `<saml:Issuer${issuerFormat}>${escapeXml(issuer)}</saml:Issuer>` +
      `<saml:Subject>${nameId}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData` +
      (options.confirmationNotBefore === undefined
        ? ''
        : ` NotBefore="${iso(options.confirmationNotBefore)}"`) +
      (confirmationNotOnOrAfter === null ? '' : ` NotOnOrAfter="${iso(confirmationNotOnOrAfter)}"`) +
      ` Recipient="${escapeXml(options.recipient)}"` +
      (options.inResponseTo === undefined ? '' : ` InResponseTo="${escapeXml(options.inResponseTo)}"`) +
      `/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions` +
      (notBefore === null ? '' : ` NotBefore="${iso(notBefore)}"`) +
      (notOnOrAfter === null ? '' : ` NotOnOrAfter="${iso(notOnOrAfter)}"`) +
      `><saml:AudienceRestriction>${audiences}</saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${iso(options.authnInstant ?? now - 1000)}" SessionIndex="${samlId()}"` +
      (sessionNotOnOrAfter === null ? '' : ` SessionNotOnOrAfter="${iso(sessionNotOnOrAfter)}"`) +
      `><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      (attributes === '' && options.extraAttributeXml === undefined
        ? ''
        : `<saml:AttributeStatement>${attributes}${options.extraAttributeXml ?? ''}</saml:AttributeStatement>`) +
      `</saml:Assertion>`
    );
  }

  /** Signs the root element of `xml` (an Assertion or a Response); the signature goes after its Issuer. */
  sign(xml: string, options: SignOptions = {}): string {
    const keys = options.keys ?? this.keys;
    const hmac = options.hmacWithPublicCertificate === true;
    const keyInfoCertificate =
      options.keyInfoCertificate === undefined ? keys.certificate : options.keyInfoCertificate;
    const signer = new SignedXml({
      privateKey: hmac ? this.keys.certificate : keys.privateKey,
      ...(keyInfoCertificate === null ? {} : { publicCert: keyInfoCertificate }),
      signatureAlgorithm: hmac
        ? XML_ALGORITHMS.hmacSha1
        : (options.signatureAlgorithm ?? XML_ALGORITHMS.rsaSha256),
      canonicalizationAlgorithm: XML_ALGORITHMS.excC14n,
    });
    if (hmac) signer.enableHMAC();
    signer.addReference({
      xpath: '/*',
      digestAlgorithm: options.digestAlgorithm ?? XML_ALGORITHMS.sha256,
      transforms: [XML_ALGORITHMS.enveloped, XML_ALGORITHMS.excC14n],
    });
    const hasIssuer = /^<[^>]*>\s*<(?:\w+:)?Issuer[\s>]/.test(xml.replace(/^<\?xml[^>]*\?>\s*/, ''));
    signer.computeSignature(xml, {
      prefix: 'ds',
      location: hasIssuer
        ? { reference: "/*/*[local-name(.)='Issuer']", action: 'after' }
        : { reference: '/*', action: 'prepend' },
    });
    return signer.getSignedXml();
  }

  /** The assertion encrypted for an SP: `<saml:EncryptedAssertion>` (AES-256-GCM, RSA-OAEP by default). */
  async encryptAssertion(
    assertionXml: string,
    sp: NonNullable<ResponseOptions['encryptFor']>,
  ): Promise<string> {
    const encrypted = await new Promise<string>((resolve, reject) =>
      encrypt(
        assertionXml,
        {
          rsa_pub: sp.publicKey,
          pem: sp.certificate,
          encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
          keyEncryptionAlgorithm:
            sp.keyTransport === 'rsa-1_5'
              ? 'http://www.w3.org/2001/04/xmlenc#rsa-1_5'
              : 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
          warnInsecureAlgorithm: false,
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      ),
    );
    return `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${encrypted}</saml:EncryptedAssertion>`;
  }

  /** A Response around an assertion (plain, signed or encrypted XML), unsigned. */
  wrapInResponse(
    assertionXml: string,
    options: Pick<
      ResponseOptions,
      | 'destination'
      | 'responseId'
      | 'responseIssuer'
      | 'responseInResponseTo'
      | 'inResponseTo'
      | 'status'
      | 'now'
    >,
  ): string {
    const now = options.now ?? Date.now();
    const inResponseTo =
      options.responseInResponseTo === null
        ? undefined
        : (options.responseInResponseTo ?? options.inResponseTo);
    const issuer = options.responseIssuer === undefined ? this.entityId : options.responseIssuer;
    return (
      `<?xml version="1.0" encoding="UTF-8"?>` +
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${options.responseId ?? samlId()}" Version="2.0" IssueInstant="${iso(now)}"` +
      (options.destination === null ? '' : ` Destination="${escapeXml(options.destination)}"`) +
      (inResponseTo === undefined ? '' : ` InResponseTo="${escapeXml(inResponseTo)}"`) +
      `>` +
      (issuer === null ? '' : `<saml:Issuer>${escapeXml(issuer)}</saml:Issuer>`) +
      `<samlp:Status><samlp:StatusCode Value="${escapeXml(options.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success')}"/></samlp:Status>` +
      assertionXml.replace(/^<\?xml[^>]*\?>/, '') +
      `</samlp:Response>`
    );
  }

  /** A complete response, signed as `options.sign` says (default: the assertion). */
  async response(options: ResponseOptions): Promise<string> {
    const sign = options.sign ?? 'assertion';
    let assertion = this.assertionXml({
      ...options,
      recipient: options.recipient ?? options.destination ?? '',
    });
    if (sign === 'assertion' || sign === 'both') assertion = this.sign(assertion, options.signOptions);
    if (options.encryptFor !== undefined)
      assertion = await this.encryptAssertion(assertion, options.encryptFor);
    const response = this.wrapInResponse(assertion, options);
    return sign === 'response' || sign === 'both'
      ? this.sign(response, options.responseSignOptions)
      : response;
  }

  /** Reads the AuthnRequest of an HTTP-Redirect URL (what a real IdP does first). */
  async authnRequestFrom(url: URL): Promise<{
    id: string;
    issuer: string;
    acsUrl: string | undefined;
    destination: string | undefined;
    xml: string;
  }> {
    const encoded = url.searchParams.get('SAMLRequest');
    if (encoded === null) throw new Error('no SAMLRequest in the redirect');
    const xml = (await promisify(inflateRaw)(Buffer.from(encoded, 'base64'))).toString('utf8');
    const root = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
    if (root === null || root.localName !== 'AuthnRequest') throw new Error('not an AuthnRequest');
    const issuer = root.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Issuer')[0]
      ?.textContent;
    return {
      id: root.getAttribute('ID') ?? '',
      issuer: issuer ?? '',
      acsUrl: root.getAttribute('AssertionConsumerServiceURL') ?? undefined,
      destination: root.getAttribute('Destination') ?? undefined,
      xml,
    };
  }
}

/** The base64 body of a PEM certificate, as metadata and KeyInfo carry it. */
export function bareCertificate(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
