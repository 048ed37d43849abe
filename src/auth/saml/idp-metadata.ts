import { certificatePem } from './key-material.js';
import {
  attributeOf,
  childElements,
  DSIG_NS,
  elementChildren,
  MD_NS,
  parseStrictXml,
  SAMLP_NS,
  simpleText,
} from './strict-xml.js';

const HTTP_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** What fedproxy needs to know about a SAML IdP. */
export interface IdpDescriptor {
  entityId: string;
  /** SingleSignOnService with the HTTP-Redirect binding, if the metadata lists one. */
  ssoRedirectUrl: string | undefined;
  /** Signing certificates (KeyDescriptor use="signing" or without use), as PEM. */
  signingCertificates: string[];
}

/**
 * Reads IdP metadata: an EntityDescriptor, or an EntitiesDescriptor (aggregate) from which `entityId`
 * picks one. Parsed as strictly as responses (no DOCTYPE or processing instructions; comments allowed).
 * Metadata whose `validUntil` has passed is refused. The metadata's own signature is not verified: its
 * trust comes from where it was read (a file the admin placed, or an https URL).
 */
export function parseIdpMetadata(xml: string, options: { entityId?: string; now: number }): IdpDescriptor {
  const root = parseStrictXml(xml, { allowComments: true });
  const entities: Element[] = [];
  const collect = (element: Element) => {
    if (element.namespaceURI !== MD_NS) return;
    if (element.localName === 'EntityDescriptor') entities.push(element);
    else if (element.localName === 'EntitiesDescriptor') {
      checkValidUntil(element, options.now);
      elementChildren(element).forEach(collect);
    }
  };
  collect(root);

  const idps = entities.filter((e) => childElements(e, MD_NS, 'IDPSSODescriptor').length > 0);
  const chosen =
    options.entityId === undefined
      ? idps
      : idps.filter((e) => attributeOf(e, 'entityID') === options.entityId);
  const [entity] = chosen;
  if (entity === undefined || chosen.length !== 1) {
    throw new Error(
      options.entityId === undefined
        ? `metadata describes ${idps.length} identity providers; set entityId to pick one`
        : `metadata has no identity provider with entityID ${JSON.stringify(options.entityId)}`,
    );
  }
  checkValidUntil(entity, options.now);
  const entityId = attributeOf(entity, 'entityID');
  if (entityId === undefined || entityId === '') throw new Error('metadata EntityDescriptor has no entityID');

  const descriptors = childElements(entity, MD_NS, 'IDPSSODescriptor').filter((d) =>
    (attributeOf(d, 'protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAMLP_NS),
  );
  const [descriptor] = descriptors;
  if (descriptor === undefined || descriptors.length !== 1)
    throw new Error('metadata has no SAML 2.0 IDPSSODescriptor');
  checkValidUntil(descriptor, options.now);

  const signingCertificates: string[] = [];
  for (const keyDescriptor of childElements(descriptor, MD_NS, 'KeyDescriptor')) {
    const use = attributeOf(keyDescriptor, 'use');
    if (use !== undefined && use !== 'signing') continue;
    for (const keyInfo of childElements(keyDescriptor, DSIG_NS, 'KeyInfo'))
      for (const data of childElements(keyInfo, DSIG_NS, 'X509Data'))
        for (const certificate of childElements(data, DSIG_NS, 'X509Certificate')) {
          const text = simpleText(certificate);
          if (text !== undefined && text.trim() !== '')
            signingCertificates.push(certificatePem(text, `metadata of ${entityId}`));
        }
  }
  if (signingCertificates.length === 0) throw new Error('metadata lists no signing certificate');

  const sso = childElements(descriptor, MD_NS, 'SingleSignOnService').find(
    (s) => attributeOf(s, 'Binding') === HTTP_REDIRECT,
  );
  return { entityId, ssoRedirectUrl: sso && attributeOf(sso, 'Location'), signingCertificates };
}

function checkValidUntil(element: Element, now: number): void {
  const validUntil = attributeOf(element, 'validUntil');
  if (validUntil === undefined) return;
  const ms = Date.parse(validUntil);
  if (Number.isNaN(ms) || ms <= now)
    throw new Error(`metadata expired (validUntil ${validUntil.slice(0, 40)})`);
}
