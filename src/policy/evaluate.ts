import { BoundedMap } from '../bounded-map.js';
import {
  compileConditions,
  normalizeContext,
  type CompiledCondition,
  type NormalizedContext,
  type PolicyProblem,
  type RequestContext,
} from './conditions.js';
import { policyDocumentSchema, type PolicyDocument, type PolicyStatement } from './document.js';
import { compileGlob, type GlobMatcher } from './glob.js';
import { policyProblem } from './templates.js';

/**
 * IAM policy evaluation for identity-based policies (no `Principal`, no resource policies).
 *
 * Decision order, as AWS's: an explicit `Deny` in any policy wins; otherwise the request is allowed when
 * an identity policy allows it and, when session policies are given, a session policy allows it too
 * (the intersection: a session policy can only narrow); otherwise it is implicitly denied. Within each
 * side the policies are a union: any one of them may allow.
 *
 * A statement applies when its action part, its resource part and every condition match:
 * - `Action` matches when any listed pattern matches the request's action; `NotAction` when none does.
 *   Action patterns are case-insensitive in both the service prefix and the action name, and any prefix
 *   is accepted (`reports:Read`): there is no service catalogue.
 * - `Resource` / `NotResource` likewise, but case-sensitive. Resources are arbitrary strings, ARNs or not.
 * - Wildcards: `*` any run of characters (including `:` and `/`), `?` one character; see `glob.ts`.
 * - Conditions: see `conditions.ts`. Policy variables (`${...}`) are not expanded; `$` is literal.
 *
 * A statement whose conditions cannot be compiled (unknown operator, malformed value) never applies, for
 * `Allow` and `Deny` alike; `validatePolicyForEvaluation` reports exactly those problems, so policies are
 * refused before they are stored. Evaluation never throws on a document that `policyDocumentSchema`
 * accepts, whatever its problems.
 *
 * Documents are compiled once and cached by identity: treat a document as immutable once evaluated.
 */

export type { ContextScalar, ContextValue, PolicyProblem, RequestContext } from './conditions.js';

export interface AuthorizationRequest {
  /** `service:action`, e.g. `reports:GetReport`. */
  action: string;
  /** The resource, usually an ARN; any string is accepted. */
  resource: string;
  /** Condition keys (case-insensitive) and their values; nothing is filled in automatically. */
  context: RequestContext;
}

export interface PolicySet {
  /** The role's (or service account's) policies; with none, nothing is allowed. */
  identity: readonly PolicyDocument[];
  /**
   * Session policies. When given and non-empty, a request must also be allowed by one of them. Absent and
   * empty mean the same: no session policy, no narrowing.
   */
  session?: readonly PolicyDocument[];
}

/** A statement that decided, located by side, document (position in its list) and statement position. */
export interface DecidingStatement {
  policy: 'identity' | 'session';
  /** Position of the document in `identity` or `session`. */
  document: number;
  /** Position of the statement in the document's `Statement` (0 when `Statement` is one object). */
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
}

export interface Decision {
  allowed: boolean;
  decision: 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';
  /**
   * `ExplicitDeny`: the first matching `Deny` (identity policies first, each in order). `Allow`: the first
   * identity statement that allows. Absent for `ImplicitDeny`: no statement decided it.
   */
  statement?: DecidingStatement;
  /** `Allow` with session policies: the first session statement that allows. */
  sessionStatement?: DecidingStatement;
  /** One sentence for logs and the audit trail. Holds no request data, only statement positions and Sids. */
  reason: string;
}

interface CompiledStatement {
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  actions: GlobMatcher[];
  notAction: boolean;
  resources: GlobMatcher[];
  notResource: boolean;
  conditions: CompiledCondition[];
  /** False when a condition could not be compiled: the statement never applies. */
  usable: boolean;
}

interface CompiledPolicy {
  statements: CompiledStatement[];
  problems: PolicyProblem[];
}

function asList<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function compileStatement(
  statement: PolicyStatement,
  index: number,
  path: string,
): { compiled: CompiledStatement; problems: PolicyProblem[] } {
  const { conditions, problems } =
    statement.Condition === undefined
      ? { conditions: [], problems: [] }
      : compileConditions(statement.Condition, `${path}.Condition`);
  const actionPatterns = statement.Action ?? statement.NotAction ?? [];
  const resourcePatterns = statement.Resource ?? statement.NotResource ?? [];
  const compiled: CompiledStatement = {
    index,
    ...(statement.Sid === undefined ? {} : { sid: statement.Sid }),
    effect: statement.Effect,
    actions: asList(actionPatterns).map((pattern) => compileGlob(pattern.toLowerCase())),
    notAction: statement.Action === undefined,
    resources: asList(resourcePatterns).map((pattern) => compileGlob(pattern)),
    notResource: statement.Resource === undefined,
    conditions,
    usable: problems.length === 0,
  };
  return { compiled, problems };
}

const compiledPolicies = new WeakMap<PolicyDocument, CompiledPolicy>();

function compilePolicy(document: PolicyDocument): CompiledPolicy {
  const cached = compiledPolicies.get(document);
  if (cached !== undefined) return cached;
  const single = !Array.isArray(document.Statement);
  const statements: CompiledStatement[] = [];
  const problems: PolicyProblem[] = [];
  asList(document.Statement).forEach((statement, index) => {
    const path = single ? 'Statement' : `Statement[${index}]`;
    const { compiled, problems: found } = compileStatement(statement, index, path);
    statements.push(compiled);
    problems.push(...found);
  });
  const policy = { statements, problems };
  compiledPolicies.set(document, policy);
  return policy;
}

/**
 * Everything in a schema-valid policy that evaluation could not honour as written: unknown condition
 * operators (names are case-sensitive), `Null` with a qualifier or `IfExists`, values of the wrong kind
 * for their operator (a non-number for Numeric*, a non-date or a date without a zone for Date*, a
 * malformed IP or CIDR, an ARN pattern without six components, a non-boolean for Bool/Null). Empty when
 * the policy is fine. Call it on `policyDocumentSchema` output before storing or using a policy; a
 * statement with a problem would otherwise silently never apply.
 */
export function validatePolicyForEvaluation(policy: PolicyDocument): PolicyProblem[] {
  return [...compilePolicy(policy).problems];
}

function matchesAny(matchers: readonly GlobMatcher[], text: string): boolean {
  return matchers.some((matches) => matches(text));
}

/** The request in the form statements read it; the context is normalized only when a condition asks. */
interface PreparedRequest {
  action: string;
  resource: string;
  context(): NormalizedContext;
}

function applies(statement: CompiledStatement, request: PreparedRequest): boolean {
  return (
    statement.usable &&
    matchesAny(statement.actions, request.action) !== statement.notAction &&
    matchesAny(statement.resources, request.resource) !== statement.notResource &&
    statement.conditions.every((condition) => condition.holds(request.context()))
  );
}

/** One side's verdict: the first applying Deny, else the first applying Allow, else neither. */
function evaluateSide(
  side: 'identity' | 'session',
  documents: readonly PolicyDocument[],
  request: PreparedRequest,
): { deny?: DecidingStatement; allow?: DecidingStatement } {
  let allow: DecidingStatement | undefined;
  for (const [document, policy] of documents.entries()) {
    for (const statement of compilePolicy(policy).statements) {
      if (statement.effect === 'Allow' && allow !== undefined) continue; // only Denies can change the verdict
      if (!applies(statement, request)) continue;
      const found: DecidingStatement = {
        policy: side,
        document,
        index: statement.index,
        ...(statement.sid === undefined ? {} : { sid: statement.sid }),
        effect: statement.effect,
      };
      if (statement.effect === 'Deny') return { deny: found };
      allow = found;
    }
  }
  return allow === undefined ? {} : { allow };
}

function describe(statement: DecidingStatement): string {
  const sid = statement.sid === undefined || statement.sid === '' ? '' : ` (${statement.sid})`;
  return `${statement.policy} policy ${statement.document} statement ${statement.index}${sid}`;
}

/** The decision for one request; see the module comment for the rules. Never throws. */
export function evaluatePolicies(request: AuthorizationRequest, policies: PolicySet): Decision {
  let context: NormalizedContext | undefined;
  const prepared: PreparedRequest = {
    action: request.action.toLowerCase(),
    resource: request.resource,
    context: () => (context ??= normalizeContext(request.context)),
  };
  const identity = evaluateSide('identity', policies.identity, prepared);
  if (identity.deny !== undefined)
    return {
      allowed: false,
      decision: 'ExplicitDeny',
      statement: identity.deny,
      reason: `explicitly denied by ${describe(identity.deny)}`,
    };
  const sessionPolicies = policies.session ?? [];
  const session =
    sessionPolicies.length === 0 ? undefined : evaluateSide('session', sessionPolicies, prepared);
  if (session?.deny !== undefined)
    return {
      allowed: false,
      decision: 'ExplicitDeny',
      statement: session.deny,
      reason: `explicitly denied by ${describe(session.deny)}`,
    };
  if (identity.allow === undefined)
    return {
      allowed: false,
      decision: 'ImplicitDeny',
      reason: 'no identity policy statement allows the request',
    };
  if (session !== undefined && session.allow === undefined)
    return {
      allowed: false,
      decision: 'ImplicitDeny',
      reason: `the session policy does not allow the request; ${describe(identity.allow)} would`,
    };
  return {
    allowed: true,
    decision: 'Allow',
    statement: identity.allow,
    ...(session?.allow === undefined ? {} : { sessionStatement: session.allow }),
    reason:
      `allowed by ${describe(identity.allow)}` +
      (session?.allow === undefined ? '' : ` and ${describe(session.allow)}`),
  };
}

// ---- stored sessions ---------------------------------------------------------------------------------

/** A stored policy read back: the document, or why it cannot be used. */
type StoredPolicy = { document: PolicyDocument } | { problem: string };

/** Distinct policy texts kept parsed. Records share their role's rendered policy, so few texts are hot. */
const STORED_POLICY_CACHE_SIZE = 256;
const storedPolicies = new BoundedMap<StoredPolicy>(STORED_POLICY_CACHE_SIZE);

function readStoredPolicy(text: string): StoredPolicy {
  // Setting a hit again makes it the newest: the least recently used text is dropped first.
  const read = storedPolicies.get(text) ?? parseStoredPolicy(text);
  storedPolicies.set(text, read);
  return read;
}

function parseStoredPolicy(text: string): StoredPolicy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problem: 'is not JSON' };
  }
  const parsed = policyDocumentSchema.safeParse(json);
  if (!parsed.success) {
    const { path, message } = policyProblem(parsed.error);
    return { problem: `is not a policy document${path === '' ? '' : ` at ${path}`}: ${message}` };
  }
  const [first] = validatePolicyForEvaluation(parsed.data);
  if (first !== undefined) return { problem: `cannot be evaluated at ${first.path}: ${first.message}` };
  return { document: parsed.data };
}

/**
 * Evaluates a request against a stored session's policies (`SessionRecord.policy` and
 * `.sessionPolicy`, JSON text). Parsed documents are cached by text (bounded, least recently used
 * evicted), since this runs on every `/v1/authorize`.
 *
 * Fails closed: when either text is not JSON, not a policy document, or has a problem that
 * `validatePolicyForEvaluation` reports, the answer is `ImplicitDeny` with the reason, rather than
 * evaluating a policy whose statements might be silently skipped. Never throws.
 */
export function evaluateSession(
  record: { policy: string; sessionPolicy?: string },
  request: AuthorizationRequest,
): Decision {
  const identity = readStoredPolicy(record.policy);
  if ('problem' in identity)
    return {
      allowed: false,
      decision: 'ImplicitDeny',
      reason: `the session's role policy ${identity.problem}`,
    };
  if (record.sessionPolicy === undefined) return evaluatePolicies(request, { identity: [identity.document] });
  const session = readStoredPolicy(record.sessionPolicy);
  if ('problem' in session)
    return { allowed: false, decision: 'ImplicitDeny', reason: `the session policy ${session.problem}` };
  return evaluatePolicies(request, { identity: [identity.document], session: [session.document] });
}
