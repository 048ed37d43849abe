import { XMLSerializer } from '@xmldom/xmldom';
import { checkEncryptionAlgorithms, checkSignatureAlgorithms } from './algorithms.js';
import { quoted, SamlResponseError } from './refusal.js';
import {
  allElements,
  attributeOf,
  DSIG_NS,
  elementsByLocalName,
  parseStrictXml,
  SAML_NS,
  SAMLP_NS,
  simpleText,
  singleChild,
  XmlRefusedError,
} from './strict-xml.js';

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A posted SAMLResponse that passed every check that needs no cryptography. Its unsigned fields
 * (Destination, Issuer, InResponseTo) are for comparisons that can only refuse; nothing here names
 * the user.
 */
export interface PostedResponse {
  /** The response re-encoded from exactly the text checked here: what node-saml gets. */
  readonly base64: string;
  readonly destination: string | undefined;
  readonly issuer: string | undefined;
  readonly inResponseTo: string | undefined;
  /** The Response carries a Signature element (not yet verified). */
  readonly hasResponseSignature: boolean;
  /** The EncryptedAssertion element's XML, when encrypted (to inspect the inner signature after decryption). */
  readonly encryptedAssertionXml: string | undefined;
}

/**
 * The checks before any cryptography, cheapest first:
 *
 * 1. size (`maxBytes` on the base64 text; 413),
 * 2. strict base64 (whitespace from line wrapping allowed) and strict UTF-8,
 * 3. strict XML (parseStrictXml: no DOCTYPE, PIs, comments, several roots),
 * 4. a SAML 2.0 `samlp:Response` with a success status,
 * 5. structure: exactly one `Assertion` or `EncryptedAssertion` in the whole document (counted by local
 *    name in any namespace, as node-saml's XPath does), as a direct child of the Response; `Signature`
 *    elements only as direct children of the Response or that assertion, one each; every ID, Id and id
 *    attribute value unique. Together these refuse every signature-wrapping layout (an assertion moved,
 *    nested, duplicated or shadowed) before a signature is verified; node-saml's own reference checks
 *    are the second line.
 * 6. algorithms of every visible signature and of the encryption (algorithms.ts).
 */
export function readPostedResponse(samlResponse: string, maxBytes: number): PostedResponse {
  if (samlResponse.length > maxBytes)
    throw new SamlResponseError('size', `SAMLResponse of ${samlResponse.length} bytes exceeds ${maxBytes}`);
  const compact = samlResponse.replace(/[\r\n\t ]+/g, '');
  if (compact.length === 0 || !BASE64.test(compact))
    throw new SamlResponseError('encoding', 'SAMLResponse is not base64');
  let xml: string;
  try {
    xml = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Buffer.from(compact, 'base64'));
  } catch {
    throw new SamlResponseError('encoding', 'SAMLResponse is not UTF-8 text');
  }

  let root: Element;
  try {
    root = parseStrictXml(xml, { allowComments: false });
  } catch (error) {
    if (error instanceof XmlRefusedError) throw new SamlResponseError('xml', `the response ${error.message}`);
    throw error;
  }
  if (root.localName !== 'Response' || root.namespaceURI !== SAMLP_NS)
    throw new SamlResponseError(
      'xml',
      `root element is ${quoted(root.localName ?? '')}, not a SAML 2.0 Response`,
    );
  if (attributeOf(root, 'Version') !== '2.0')
    throw new SamlResponseError('xml', `Response Version ${quoted(attributeOf(root, 'Version'))}, not 2.0`);

  try {
    checkStatus(root);

    // 5. Structure.
    const assertions = [
      ...elementsByLocalName(root, 'Assertion'),
      ...elementsByLocalName(root, 'EncryptedAssertion'),
    ];
    const [assertion] = assertions;
    if (assertion === undefined || assertions.length !== 1)
      throw new SamlResponseError('structure', `${assertions.length} assertions in the response, not one`);
    if (assertion.parentNode !== root || assertion.namespaceURI !== SAML_NS)
      throw new SamlResponseError('structure', 'the assertion is not a direct child of the Response');
    const encrypted = assertion.localName === 'EncryptedAssertion';
    const signatures = elementsByLocalName(root, 'Signature');
    for (const signature of signatures) {
      const parent = signature.parentNode;
      if (signature.namespaceURI !== DSIG_NS || (parent !== root && (parent !== assertion || encrypted)))
        throw new SamlResponseError('structure', 'a signature in a place where none belongs');
    }
    if (signatures.filter((s) => s.parentNode === root).length > 1)
      throw new SamlResponseError('structure', 'several signatures on the Response');
    if (signatures.filter((s) => s.parentNode === assertion).length > 1)
      throw new SamlResponseError('structure', 'several signatures on the assertion');
    checkUniqueIds(root);

    // 6. Algorithms.
    checkSignatureAlgorithms(root);
    if (encrypted) checkEncryptionAlgorithms(assertion);

    const issuerElement = singleChild(root, SAML_NS, 'Issuer');
    return {
      base64: Buffer.from(xml, 'utf8').toString('base64'),
      destination: attributeOf(root, 'Destination'),
      issuer: issuerElement === undefined ? undefined : (simpleText(issuerElement) ?? ''),
      inResponseTo: attributeOf(root, 'InResponseTo'),
      hasResponseSignature: signatures.some((s) => s.parentNode === root),
      encryptedAssertionXml: encrypted ? new XMLSerializer().serializeToString(assertion) : undefined,
    };
  } catch (error) {
    if (error instanceof XmlRefusedError)
      throw new SamlResponseError('structure', `the response ${error.message}`);
    throw error;
  }
}

/**
 * A non-success status is refused with the IdP's codes (their last URN segment, e.g.
 * `Responder/AuthnFailed`), which help the user and the admin and reveal nothing about fedproxy.
 */
function checkStatus(root: Element): void {
  const status = singleChild(root, SAMLP_NS, 'Status');
  const code = status && singleChild(status, SAMLP_NS, 'StatusCode');
  const value = code && attributeOf(code, 'Value');
  if (value === undefined) throw new SamlResponseError('xml', 'the response has no StatusCode');
  if (value === SUCCESS) return;
  const nested = code && singleChild(code, SAMLP_NS, 'StatusCode');
  const nestedValue = nested && attributeOf(nested, 'Value');
  const codes = [value, nestedValue]
    .filter((v): v is string => v !== undefined)
    .map((v) =>
      v
        .slice(v.lastIndexOf(':') + 1)
        .replace(/[^A-Za-z]/g, '')
        .slice(0, 40),
    )
    .join('/');
  throw new SamlResponseError('status', `the IdP answered status ${codes}`, {
    clientMessage: `The identity provider refused the sign-in (${codes})`,
  });
}

/**
 * Values of attributes named ID, Id or id (in any namespace: xml-crypto resolves references by local name)
 * must be unique, so a reference can only ever mean one element.
 */
function checkUniqueIds(root: Element): void {
  const seen = new Set<string>();
  for (const element of allElements(root)) {
    for (let i = 0; i < element.attributes.length; i++) {
      const attribute = element.attributes.item(i);
      if (attribute === null || !['ID', 'Id', 'id'].includes(attribute.localName)) continue;
      if (seen.has(attribute.value))
        throw new SamlResponseError('structure', `the ID ${quoted(attribute.value)} appears twice`);
      seen.add(attribute.value);
    }
  }
}
