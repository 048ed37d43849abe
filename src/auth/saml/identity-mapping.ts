import type { SamlIdpConfig } from '../../config/schema.js';
import { isPrototypeKey, type Identity } from '../identity.js';
import { SamlResponseError } from './refusal.js';
import type { SignedAssertion } from './signed-assertion.js';

/** SAML 2.0 core §8.3.7: persistent identifiers are at most 256 characters; leave room for other formats. */
export const MAX_SUBJECT_LENGTH = 512;

/**
 * Maps a *validated* assertion (signature, issuer, audience, time and binding checks are the caller's job)
 * to an Identity of `idp`. Values are used exactly as signed: never trimmed or normalised, because a
 * normalised value is a different value (`" admins"` must not become `admins`).
 *
 * - `subject`: the configured subject attribute (exactly one string value), else the NameID. It must be
 *   1..512 characters without leading or trailing whitespace and without control characters; otherwise
 *   the response is refused (a value with invisible differences would be another principal that looks
 *   the same in every list).
 * - `username`: the configured username attribute, else the NameID, else the subject; same rules.
 * - `email`: the configured attribute when it has exactly one plain value; otherwise left out (display
 *   data only).
 * - `groups`: the configured attribute's values (one value is one group; none or absent is no group);
 *   empty values dropped, duplicates removed. A structured or nil value, or a control character, refuses
 *   the response: the IdP is not sending what the mappings were written for.
 * - `attributes`: every attribute with plain values, by its Name, one value as a string and several as a
 *   list, for `${saml:<Name>}` templates. The record has no prototype.
 * - `authTime`: AuthnInstant (else IssueInstant). `expiresAt`: SessionNotOnOrAfter, else the Conditions'
 *   NotOnOrAfter, else the bearer confirmation's NotOnOrAfter.
 */
export function identityFromAssertion(
  idp: SamlIdpConfig,
  entityId: string,
  assertion: SignedAssertion,
): Identity {
  const mapped = idp.attributes;
  const subject = mapped.subject === undefined ? assertion.nameId : singleValue(assertion, mapped.subject);
  const checkedSubject = checkIdentifier(subject, 'subject', mapped.subject ?? 'NameID');
  const username =
    mapped.username === undefined
      ? (assertion.nameId ?? checkedSubject)
      : singleValue(assertion, mapped.username);
  const checkedUsername = checkIdentifier(username, 'username', mapped.username ?? 'NameID');

  let email: string | undefined;
  if (mapped.email !== undefined) {
    const values = assertion.attributes.get(mapped.email);
    if (values?.length === 1 && typeof values[0] === 'string' && values[0] !== '') email = values[0];
  }

  const groups: string[] = [];
  if (mapped.groups !== undefined) {
    for (const value of assertion.attributes.get(mapped.groups) ?? []) {
      if (value === null)
        throw new SamlResponseError(
          'attributes',
          `a value of ${mapped.groups} is structured or nil, not a group name`,
        );
      if (hasControlCharacter(value))
        throw new SamlResponseError('attributes', `a value of ${mapped.groups} has control characters`);
      if (value !== '' && !groups.includes(value)) groups.push(value);
    }
  }

  const attributes: Record<string, string | string[]> = Object.create(null) as Record<
    string,
    string | string[]
  >;
  for (const [name, values] of assertion.attributes) {
    if (isPrototypeKey(name)) continue;
    const plain = values.filter((v): v is string => v !== null);
    if (plain.length === 0 || plain.length !== values.length) continue;
    const [first] = plain;
    attributes[name] = plain.length === 1 && first !== undefined ? first : plain;
  }

  const expiresAt =
    assertion.sessionNotOnOrAfter ?? assertion.conditions.notOnOrAfter ?? assertion.confirmation.notOnOrAfter;
  return {
    idp: idp.id,
    protocol: 'saml',
    issuer: entityId,
    subject: checkedSubject,
    username: checkedUsername,
    ...(email === undefined ? {} : { email }),
    groups,
    attributes,
    authTime: assertion.authnInstant ?? assertion.issueInstant,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

function singleValue(assertion: SignedAssertion, name: string): string | undefined {
  const values = assertion.attributes.get(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1)
    throw new SamlResponseError('subject', `attribute ${name} has ${values.length} values, not one`);
  return values[0] ?? undefined;
}

function checkIdentifier(value: string | undefined, what: string, source: string): string {
  if (value === undefined || value === '')
    throw new SamlResponseError('subject', `no ${what} (${source} is absent or empty)`);
  if (value.length > MAX_SUBJECT_LENGTH)
    throw new SamlResponseError(
      'subject',
      `the ${what} (${source}) is longer than ${MAX_SUBJECT_LENGTH} characters`,
    );
  if (value !== value.trim())
    throw new SamlResponseError('subject', `the ${what} (${source}) has leading or trailing whitespace`);
  if (hasControlCharacter(value))
    throw new SamlResponseError('subject', `the ${what} (${source}) has control characters`);
  return value;
}

function hasControlCharacter(value: string): boolean {
  return /[\p{Cc}\p{Cf}\u2028\u2029]/u.test(value);
}
