import { quoted, SamlResponseError } from './refusal.js';
import {
  attributeOf,
  childElements,
  parseStrictXml,
  SAML_NS,
  simpleText,
  singleChild,
  XmlRefusedError,
} from './strict-xml.js';

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/**
 * The fields fedproxy uses from an assertion, read only from the bytes a verified signature covers
 * (node-saml's `profile.getAssertionXml()`: the signed reference, after canonicalization, which has
 * dropped comments). Times are ms since the epoch.
 */
export interface SignedAssertion {
  id: string;
  issueInstant: number;
  issuer: string;
  issuerFormat: string | undefined;
  /** The NameID text, exactly as signed (no trimming). Undefined when absent or encrypted. */
  nameId: string | undefined;
  nameIdFormat: string | undefined;
  /** The one bearer SubjectConfirmationData. */
  confirmation: {
    recipient: string | undefined;
    inResponseTo: string | undefined;
    notBefore: number | undefined;
    notOnOrAfter: number | undefined;
  };
  conditions: {
    notBefore: number | undefined;
    notOnOrAfter: number | undefined;
    /** One list of audiences per AudienceRestriction; each must name us. */
    audienceRestrictions: string[][];
  };
  /** The earliest AuthnInstant and SessionNotOnOrAfter of the AuthnStatements. */
  authnInstant: number | undefined;
  sessionNotOnOrAfter: number | undefined;
  /**
   * Attribute values by attribute Name, in document order, values of several statements merged.
   * A structured value (child elements) or `xsi:nil` is kept as `null`, so a mapped attribute can be
   * refused rather than silently shortened.
   */
  attributes: Map<string, (string | null)[]>;
}

/** Parses a SAML dateTime; a timezone is required (no local times). */
export function parseInstant(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ? Date.parse(value)
    : Number.NaN;
  if (Number.isNaN(ms))
    throw new SamlResponseError('assertion', `${what} ${quoted(value)} is not a dateTime`);
  return ms;
}

export function readSignedAssertion(xml: string): SignedAssertion {
  let assertion: Element;
  try {
    assertion = parseStrictXml(xml, { allowComments: false });
  } catch (error) {
    if (error instanceof XmlRefusedError)
      throw new SamlResponseError('xml', `the signed assertion ${error.message}`);
    throw error;
  }
  try {
    return readAssertionElement(assertion);
  } catch (error) {
    if (error instanceof XmlRefusedError)
      throw new SamlResponseError('assertion', `the assertion ${error.message}`);
    throw error;
  }
}

function readAssertionElement(assertion: Element): SignedAssertion {
  if (assertion.localName !== 'Assertion' || assertion.namespaceURI !== SAML_NS)
    throw new SamlResponseError('assertion', 'the signed element is not a SAML 2.0 Assertion');
  if (attributeOf(assertion, 'Version') !== '2.0')
    throw new SamlResponseError(
      'assertion',
      `Assertion Version ${quoted(attributeOf(assertion, 'Version'))}`,
    );
  const id = attributeOf(assertion, 'ID');
  if (id === undefined || id === '') throw new SamlResponseError('assertion', 'the assertion has no ID');
  const issueInstant = parseInstant(attributeOf(assertion, 'IssueInstant'), 'IssueInstant');
  if (issueInstant === undefined)
    throw new SamlResponseError('assertion', 'the assertion has no IssueInstant');

  const issuerElement = singleChild(assertion, SAML_NS, 'Issuer');
  const issuer = issuerElement && simpleText(issuerElement);
  if (issuerElement === undefined || issuer === undefined)
    throw new SamlResponseError('issuer', 'the assertion has no Issuer');

  const subject = singleChild(assertion, SAML_NS, 'Subject');
  if (subject === undefined) throw new SamlResponseError('assertion', 'the assertion has no Subject');
  const nameIdElement = singleChild(subject, SAML_NS, 'NameID');

  const bearers = childElements(subject, SAML_NS, 'SubjectConfirmation').filter(
    (c) => attributeOf(c, 'Method') === BEARER,
  );
  const [bearer] = bearers;
  if (bearer === undefined || bearers.length !== 1)
    throw new SamlResponseError('assertion', `${bearers.length} bearer SubjectConfirmations, not one`);
  const data = singleChild(bearer, SAML_NS, 'SubjectConfirmationData');
  if (data === undefined) throw new SamlResponseError('assertion', 'the bearer confirmation has no data');

  const conditionsElements = childElements(assertion, SAML_NS, 'Conditions');
  const [conditions] = conditionsElements;
  if (conditions === undefined || conditionsElements.length !== 1)
    throw new SamlResponseError('assertion', `${conditionsElements.length} Conditions elements, not one`);

  const authnStatements = childElements(assertion, SAML_NS, 'AuthnStatement');
  if (authnStatements.length === 0)
    throw new SamlResponseError('assertion', 'the assertion has no AuthnStatement');
  const earliest = (values: (number | undefined)[]): number | undefined => {
    const present = values.filter((v): v is number => v !== undefined);
    return present.length === 0 ? undefined : Math.min(...present);
  };

  const attributes = new Map<string, (string | null)[]>();
  for (const statement of childElements(assertion, SAML_NS, 'AttributeStatement')) {
    for (const attribute of childElements(statement, SAML_NS, 'Attribute')) {
      const name = attributeOf(attribute, 'Name');
      if (name === undefined || name === '') continue;
      const values = childElements(attribute, SAML_NS, 'AttributeValue').map((v) => simpleText(v) ?? null);
      attributes.set(name, [...(attributes.get(name) ?? []), ...values]);
    }
  }

  return {
    id,
    issueInstant,
    issuer,
    issuerFormat: attributeOf(issuerElement, 'Format'),
    nameId: nameIdElement && simpleText(nameIdElement),
    nameIdFormat: nameIdElement && attributeOf(nameIdElement, 'Format'),
    confirmation: {
      recipient: attributeOf(data, 'Recipient'),
      inResponseTo: attributeOf(data, 'InResponseTo'),
      notBefore: parseInstant(attributeOf(data, 'NotBefore'), 'SubjectConfirmationData NotBefore'),
      notOnOrAfter: parseInstant(attributeOf(data, 'NotOnOrAfter'), 'SubjectConfirmationData NotOnOrAfter'),
    },
    conditions: {
      notBefore: parseInstant(attributeOf(conditions, 'NotBefore'), 'Conditions NotBefore'),
      notOnOrAfter: parseInstant(attributeOf(conditions, 'NotOnOrAfter'), 'Conditions NotOnOrAfter'),
      audienceRestrictions: childElements(conditions, SAML_NS, 'AudienceRestriction').map((restriction) =>
        childElements(restriction, SAML_NS, 'Audience').map((a) => simpleText(a) ?? ''),
      ),
    },
    authnInstant: earliest(
      authnStatements.map((s) => parseInstant(attributeOf(s, 'AuthnInstant'), 'AuthnInstant')),
    ),
    sessionNotOnOrAfter: earliest(
      authnStatements.map((s) => parseInstant(attributeOf(s, 'SessionNotOnOrAfter'), 'SessionNotOnOrAfter')),
    ),
    attributes,
  };
}
