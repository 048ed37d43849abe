import type { Identity } from '../auth/identity.js';
import type { RoleConfig } from '../config/schema.js';
import { SessionPolicyError, ValidationError } from '../errors.js';
import { policyDocumentSchema, type PolicyDocument } from './document.js';
import { validatePolicyForEvaluation } from './evaluate.js';
import { policyProblem, renderPolicyTemplate } from './templates.js';
import type { Grant, RoleChoice } from './types.js';

/**
 * Turning a role choice plus the caller's request into a `Grant`: the validated duration, session name and
 * session policy, and the role policy rendered for the identity.
 *
 * Request fields are `unknown` on purpose: they arrive from JSON bodies and STS query strings, and every
 * check here is the only one. Only `undefined` means "not given"; `null`, `""` and other stand-ins are
 * errors like any other malformed value. Nothing is clamped or coerced: a request that cannot be honoured
 * exactly is refused (`ValidationError`, 400), so a caller never gets credentials other than it asked for.
 */

/** AWS's shortest credential lifetime, seconds. */
export const MIN_SESSION_DURATION = 900;
/** AWS's limit on an inline session policy, characters. */
export const MAX_SESSION_POLICY_LENGTH = 2048;

/** AWS's `RoleSessionName` charset (ASCII `\w` plus `+=,.@-`), 2–64 characters. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const SESSION_NAME_CHAR = /^[\w+=,.@-]$/;

export interface GrantRequest {
  durationSeconds?: unknown;
  sessionPolicy?: unknown;
  sessionName?: unknown;
}

/**
 * The lifetime to grant: an integer in 900..role.maxSessionDuration, defaulting to
 * `role.defaultSessionDuration ?? min(3600, role.maxSessionDuration)`. Strings (even `"3600"`), fractions,
 * NaN, infinities and out-of-range numbers are refused; the STS query layer converts its text first.
 */
export function validateDuration(role: RoleConfig, requested: unknown): number {
  if (requested === undefined) return role.defaultSessionDuration ?? Math.min(3600, role.maxSessionDuration);
  if (typeof requested !== 'number' || !Number.isInteger(requested))
    throw new ValidationError('durationSeconds must be a whole number of seconds');
  if (requested < MIN_SESSION_DURATION)
    throw new ValidationError(
      `1 validation error detected: Value '${requested}' at 'durationSeconds' failed to satisfy constraint: ` +
        `Member must have value greater than or equal to ${MIN_SESSION_DURATION}`,
    );
  if (requested > role.maxSessionDuration)
    throw new ValidationError(
      `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (${role.maxSessionDuration}).`,
    );
  return requested;
}

/**
 * A caller-supplied session policy (an object, or its JSON text as STS sends it), or `undefined` when none
 * was given. At most 2048 characters as text (objects are measured as compact JSON), and a valid policy
 * document; a malformed one is refused with the path of the first problem. Session policies are taken
 * literally, never rendered: a `${...}` in one is plain text, and the effective permissions are the
 * intersection with the role policy, so a session policy can only narrow.
 */
export function validateSessionPolicy(requested: unknown): PolicyDocument | undefined {
  if (requested === undefined) return undefined;
  let text: string;
  let document: unknown;
  if (typeof requested === 'string') {
    text = requested;
  } else if (typeof requested === 'object' && requested !== null && !Array.isArray(requested)) {
    let serialized: string | undefined;
    try {
      serialized = JSON.stringify(requested);
    } catch {
      serialized = undefined;
    }
    if (typeof serialized !== 'string')
      throw new SessionPolicyError('the session policy is not a JSON object', 'MalformedPolicyDocument');
    text = serialized;
  } else {
    throw new SessionPolicyError(
      'the session policy must be a JSON object or its text',
      'MalformedPolicyDocument',
    );
  }
  // Measured before parsing, so an oversized policy costs no parse.
  if (text.length > MAX_SESSION_POLICY_LENGTH)
    throw new SessionPolicyError(
      `the session policy is longer than ${MAX_SESSION_POLICY_LENGTH} characters (${text.length})`,
      'PackedPolicyTooLarge',
    );
  if (typeof requested === 'string') {
    try {
      document = JSON.parse(text);
    } catch {
      throw new SessionPolicyError('the session policy is not valid JSON', 'MalformedPolicyDocument');
    }
  } else {
    document = requested;
  }
  const parsed = policyDocumentSchema.safeParse(document);
  if (!parsed.success) {
    const { path, message } = policyProblem(parsed.error);
    throw new SessionPolicyError(
      `the session policy is malformed${path === '' ? '' : ` at ${path}`}: ${message}`,
      'MalformedPolicyDocument',
      { cause: parsed.error },
    );
  }
  // A policy the evaluator could not apply (unknown operator, bad CIDR or date) would silently deny
  // everything later: refuse it now, with where the problem is.
  const [problem] = validatePolicyForEvaluation(parsed.data);
  if (problem !== undefined) {
    throw new SessionPolicyError(
      `the session policy is malformed at ${problem.path}: ${problem.message}`,
      'MalformedPolicyDocument',
    );
  }
  return parsed.data;
}

/**
 * The session name to put in the assumed-role ARN. A given name must already be 2–64 characters of
 * `[\w+=,.@-]`; it is not repaired. Without one, the name is derived from the username: every other
 * character (per code point) becomes `-`, the result is cut to 64 and padded with `-` to 2.
 */
export function validateSessionName(requested: unknown, identity: Pick<Identity, 'username'>): string {
  if (requested !== undefined) {
    if (typeof requested !== 'string' || !SESSION_NAME.test(requested))
      throw new ValidationError('sessionName must be 2 to 64 characters of letters, digits and _+=,.@-');
    return requested;
  }
  let name = '';
  for (const char of identity.username) {
    name += SESSION_NAME_CHAR.test(char) ? char : '-';
    if (name.length === 64) break;
  }
  return name.padEnd(2, '-');
}

/**
 * Builds the grant for one role choice. Request problems are `ValidationError` (400) and are checked
 * first; a role policy that cannot be rendered for this identity is `PolicyTemplateError` (403). The
 * `${fed:group}` values are the groups that granted this role (`choice.reasons`), in order, deduplicated.
 */
export function buildGrant(
  choice: RoleChoice,
  identity: Identity,
  request: GrantRequest,
  options: { maxValueLength: number },
): Grant {
  const durationSeconds = validateDuration(choice.role, request.durationSeconds);
  const sessionName = validateSessionName(request.sessionName, identity);
  const sessionPolicy = validateSessionPolicy(request.sessionPolicy);
  const groups = [...new Set(choice.reasons.map((r) => r.group))];
  const policy = renderPolicyTemplate(choice.role.policy, identity, {
    maxValueLength: options.maxValueLength,
    groups,
  });
  return {
    role: choice.role,
    policy,
    ...(sessionPolicy === undefined ? {} : { sessionPolicy }),
    durationSeconds,
    sessionName,
    reasons: choice.reasons,
  };
}
