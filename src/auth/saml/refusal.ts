import { AppError } from '../../errors.js';

/**
 * Why a SAML response was refused, as a stable code for logs, audit and tests. One code per class of
 * check, so a test can assert that an attack was stopped by the check meant for it.
 */
export type SamlCheck =
  /** Larger than `maxResponseBytes` (413, before anything is decoded). */
  | 'size'
  /** Not base64, or not UTF-8 once decoded. */
  | 'encoding'
  /** DOCTYPE, processing instruction, comment, several roots, not well-formed, not a SAML 2.0 Response. */
  | 'xml'
  /** An assertion or signature in a place the protocol does not put one, or IDs that are not unique. */
  | 'structure'
  /** A signature, digest, canonicalization, transform or encryption algorithm outside the allow-list. */
  | 'algorithm'
  /** No valid signature by a configured certificate over what must be signed. */
  | 'signature'
  /** The encrypted assertion could not be decrypted with the SP key. */
  | 'decryption'
  /** The IdP answered with a non-success status. */
  | 'status'
  /** Response or assertion Issuer is not the configured IdP. */
  | 'issuer'
  /** Response Destination is not our endpoint. */
  | 'destination'
  /** SubjectConfirmationData Recipient is not our endpoint. */
  | 'recipient'
  /** The assertion names another audience. */
  | 'audience'
  /** No usable bearer confirmation, Conditions or AuthnStatement. */
  | 'assertion'
  /** NotOnOrAfter / SessionNotOnOrAfter has passed. */
  | 'expired'
  /** NotBefore / IssueInstant is in the future. */
  | 'not-yet-valid'
  /** InResponseTo missing, unknown, expired, used, inconsistent or not covered by a signature. */
  | 'in-response-to'
  /** An unsolicited response where this IdP (or this endpoint) does not accept one. */
  | 'unsolicited'
  /** The assertion ID was accepted before. */
  | 'replay'
  /** No usable subject or username (missing, multi-valued, whitespace or control characters). */
  | 'subject'
  /** A mapped attribute (groups) that cannot be mapped safely. */
  | 'attributes';

interface Presentation {
  status: number;
  code: string;
  message: string;
}

const INVALID: Presentation = {
  status: 401,
  code: 'InvalidIdentityToken',
  message: "The identity provider's response is not valid",
};

/**
 * What the client sees. Like InvalidIdentityTokenError, the message never says which signature or
 * binding check failed (that is in `reason`, for the log); it does say what the user can act on:
 * expiry, reuse, a sign-in that was not started here, or the IdP's own refusal. Codes are AWS's STS wire
 * codes, so the STS route can answer AssumeRoleWithSAML errors unchanged.
 */
const PRESENTATION: Partial<Record<SamlCheck, Presentation>> = {
  size: { status: 413, code: 'PayloadTooLarge', message: 'The SAML response is too large' },
  expired: {
    status: 401,
    code: 'ExpiredTokenException',
    message: 'The SAML response has expired; sign in again',
  },
  'not-yet-valid': {
    ...INVALID,
    message: "The SAML response is not valid yet; the identity provider's clock may be ahead",
  },
  replay: { ...INVALID, message: 'This SAML response was already used; sign in again' },
  'in-response-to': {
    ...INVALID,
    message: 'This sign-in was not started here, or it expired or was already completed; start again',
  },
  unsolicited: {
    ...INVALID,
    message: 'Sign-ins with this identity provider must start at fedproxy; use the sign-in page',
  },
  status: { ...INVALID, message: 'The identity provider refused the sign-in' },
};

/**
 * A refused SAML response. `check` and `reason` go to the log and audit; `reason` is written by
 * fedproxy (or is a library's error message) and never contains the raw response or assertion.
 */
export class SamlResponseError extends AppError {
  readonly check: SamlCheck;
  readonly reason: string;

  constructor(check: SamlCheck, reason: string, options?: { clientMessage?: string }) {
    const presentation = PRESENTATION[check] ?? INVALID;
    super(presentation.status, presentation.code, options?.clientMessage ?? presentation.message);
    this.check = check;
    this.reason = reason;
  }
}

/** Shortens a value quoted in a reason (an issuer, a URL), so a hostile value cannot flood the log. */
export function quoted(value: string | undefined): string {
  if (value === undefined) return '(absent)';
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}...` : value);
}
