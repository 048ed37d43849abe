import { SamlResponseError } from './refusal.js';
import {
  allElements,
  attributeOf,
  childElements,
  DSIG_NS,
  elementsByLocalName,
  singleChild,
  XmlRefusedError,
} from './strict-xml.js';

/**
 * Algorithm allow-lists, checked on the XML itself because node-saml 5.1 / xml-crypto 6.3 accept SHA-1
 * signatures and digests (and would accept HMAC if it were enabled). Only what is both strong and
 * verifiable by xml-crypto 6.3 is listed: RSA with SHA-256 or SHA-512 (PKCS#1 v1.5, or PSS with SHA-256).
 * xml-crypto has no ECDSA and no SHA-384, so an ECDSA- or SHA-384-signed response is refused here with
 * a clear reason instead of failing as a "bad signature".
 */
export const SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1',
]);

export const DIGEST_ALGORITHMS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2001/04/xmlenc#sha256',
  'http://www.w3.org/2001/04/xmlenc#sha512',
]);

/** Canonicalization without comments only: with comments, a comment would be part of the signed bytes. */
export const CANONICALIZATION_ALGORITHMS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
  'http://www.w3.org/2006/12/xml-c14n11',
]);

export const TRANSFORMS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  ...CANONICALIZATION_ALGORITHMS,
]);

/**
 * Encryption of assertions: AES-CBC or AES-GCM content encryption, RSA-OAEP key transport. Refused:
 * RSA PKCS#1 v1.5 key transport (Bleichenbacher oracles) and 3DES.
 */
export const ENCRYPTION_ALGORITHMS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  'http://www.w3.org/2009/xmlenc11#rsa-oaep',
]);

/** The names people recognise, for reasons in the log. */
function shortName(uri: string | undefined): string {
  if (uri === undefined) return '(absent)';
  const fragment = uri.slice(uri.lastIndexOf('#') + 1) || uri;
  return JSON.stringify(fragment.slice(0, 60));
}

function refuse(what: string, uri: string | undefined): never {
  const weak = uri !== undefined && /sha1|hmac|md5/i.test(uri);
  throw new SamlResponseError(
    'algorithm',
    `${weak ? 'weak' : 'unsupported'} ${what} algorithm ${shortName(uri)}`,
  );
}

/**
 * Checks every XML signature below `root` (the response, or a decrypted assertion): one SignedInfo with an
 * allowed canonicalization and signature method, exactly one Reference with allowed transforms and digest.
 */
export function checkSignatureAlgorithms(root: Node): void {
  for (const signature of elementsByLocalName(root, 'Signature')) {
    try {
      const signedInfo = singleChild(signature, DSIG_NS, 'SignedInfo');
      if (signedInfo === undefined) throw new SamlResponseError('algorithm', 'signature without SignedInfo');
      const c14n = singleChild(signedInfo, DSIG_NS, 'CanonicalizationMethod');
      const c14nAlgorithm = c14n && attributeOf(c14n, 'Algorithm');
      if (c14nAlgorithm === undefined || !CANONICALIZATION_ALGORITHMS.has(c14nAlgorithm))
        refuse('canonicalization', c14nAlgorithm);
      const method = singleChild(signedInfo, DSIG_NS, 'SignatureMethod');
      const methodAlgorithm = method && attributeOf(method, 'Algorithm');
      if (methodAlgorithm === undefined || !SIGNATURE_ALGORITHMS.has(methodAlgorithm))
        refuse('signature', methodAlgorithm);
      const references = childElements(signedInfo, DSIG_NS, 'Reference');
      const [reference] = references;
      if (reference === undefined || references.length !== 1)
        throw new SamlResponseError('algorithm', `signature with ${references.length} references, not one`);
      const digest = singleChild(reference, DSIG_NS, 'DigestMethod');
      const digestAlgorithm = digest && attributeOf(digest, 'Algorithm');
      if (digestAlgorithm === undefined || !DIGEST_ALGORITHMS.has(digestAlgorithm))
        refuse('digest', digestAlgorithm);
      const transforms = singleChild(reference, DSIG_NS, 'Transforms');
      for (const transform of transforms ? childElements(transforms, DSIG_NS, 'Transform') : []) {
        const algorithm = attributeOf(transform, 'Algorithm');
        if (algorithm === undefined || !TRANSFORMS.has(algorithm)) refuse('transform', algorithm);
      }
    } catch (error) {
      if (error instanceof XmlRefusedError)
        throw new SamlResponseError('algorithm', `signature ${error.message}`);
      throw error;
    }
  }
}

/** Checks every EncryptionMethod below an EncryptedAssertion (content encryption and key transport). */
export function checkEncryptionAlgorithms(encryptedAssertion: Element): void {
  for (const element of allElements(encryptedAssertion)) {
    if (element.localName !== 'EncryptionMethod') continue;
    const algorithm = attributeOf(element, 'Algorithm');
    if (algorithm === undefined || !ENCRYPTION_ALGORITHMS.has(algorithm)) {
      const weak = algorithm !== undefined && /rsa-1_5|tripledes/i.test(algorithm);
      throw new SamlResponseError(
        'algorithm',
        `${weak ? 'weak' : 'unsupported'} encryption algorithm ${shortName(algorithm)}`,
      );
    }
  }
}
