import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  policyDocumentSchema,
  type PolicyDocument,
  type PolicyStatement,
} from '../../src/policy/document.js';
import {
  evaluatePolicies,
  validatePolicyForEvaluation,
  type AuthorizationRequest,
  type RequestContext,
} from '../../src/policy/evaluate.js';
import { compileGlob } from '../../src/policy/glob.js';

/*
 * Property tests for policy evaluation. The generators draw from small pools of actions, resources,
 * condition keys and values that overlap on purpose, so that generated statements match, miss, allow and
 * deny in every combination rather than almost never applying.
 */

// ---- generators --------------------------------------------------------------------------------------

const ACTIONS = [
  'reports:GetReport',
  'reports:ListReports',
  'billing:Pay',
  'billing:Refund',
  'Reports:getreport',
];
const ACTION_PATTERNS = [
  '*',
  'reports:*',
  'reports:Get*',
  'REPORTS:getreport',
  'reports:Get?eport',
  'billing:*',
  'billing:Pay',
  '*:List*',
  'rep*',
  'nothing:Matches',
];
const RESOURCES = [
  'arn:fed:reports:::team/a',
  'arn:fed:reports:::team/b/q1',
  'arn:fed:billing:::invoice/7',
  'team-a',
  'arn:fed:reports:::Team/a',
];
const RESOURCE_PATTERNS = [
  '*',
  'arn:fed:reports:::team/*',
  'arn:fed:reports:::team/?',
  'arn:fed:billing:*',
  'arn:*/q1',
  'team-*',
  'arn:fed:reports:::Team/a',
];

const KEYS = [
  'fed:team',
  'FED:Team',
  'aws:SourceIp',
  'aws:CurrentTime',
  'fed:groups',
  'fed:mfa',
  'fed:level',
  'aws:SourceArn',
];
const SCALARS = [
  'payments',
  'hr',
  'Payments',
  'pay*',
  '10.0.0.0/8',
  '10.1.2.3',
  '::ffff:10.1.2.3',
  '2001:db8::/32',
  '2001:db8::1',
  '10.0.0.0/33',
  '2025-01-01T00:00:00Z',
  '2025-06-01',
  '1735689600',
  'not a date',
  'true',
  'false',
  'TRUE',
  '5',
  '-1.5e2',
  'arn:fed:reports:::team/a',
  'arn:fed:*:*:*:*',
  '',
  '*',
  '${aws:username}',
] as const;
const scalar = fc.oneof(
  fc.constantFrom(...SCALARS),
  fc.constantFrom(true, false, 0, 5, 1_735_689_600, -2.5),
  fc.string({ maxLength: 6 }),
);

const BASE_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
  // Not operators: validation refuses them, evaluation must still not throw.
  'StringEqualz',
  'stringequals',
  'IfExists',
];
const operatorName = fc
  .tuple(
    fc.constantFrom('', '', 'ForAnyValue:', 'ForAllValues:'),
    fc.constantFrom(...BASE_OPERATORS),
    fc.constantFrom('', '', 'IfExists'),
  )
  .map(([set, base, ifExists]) => `${set}${base}${ifExists}`);

const conditionValue = fc.oneof(scalar, fc.array(scalar, { minLength: 1, maxLength: 3 }));
const condition = fc.dictionary(
  operatorName,
  fc.dictionary(fc.constantFrom(...KEYS), conditionValue, { minKeys: 1, maxKeys: 2 }),
  { minKeys: 1, maxKeys: 2 },
);

const oneOrMany = (values: readonly string[]) =>
  fc.oneof(
    fc.constantFrom(...values),
    fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 3 }),
  );

const statement: fc.Arbitrary<PolicyStatement> = fc
  .record({
    effect: fc.constantFrom('Allow', 'Allow', 'Deny') as fc.Arbitrary<'Allow' | 'Deny'>,
    not: fc.record({ action: fc.boolean(), resource: fc.boolean() }),
    action: oneOrMany(ACTION_PATTERNS),
    resource: oneOrMany(RESOURCE_PATTERNS),
    condition: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: condition, weight: 1 }),
  })
  .map(({ effect, not, action, resource, condition }) => ({
    Effect: effect,
    ...(not.action ? { NotAction: action } : { Action: action }),
    ...(not.resource ? { NotResource: resource } : { Resource: resource }),
    ...(condition === null ? {} : { Condition: condition }),
  }));

/** A document through the real schema, as every stored policy is. */
const document: fc.Arbitrary<PolicyDocument> = fc
  .array(statement, { minLength: 1, maxLength: 4 })
  .map((statements) => policyDocumentSchema.parse({ Version: '2012-10-17', Statement: statements }));

const contextValue = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 3 }),
  fc.constant(undefined),
) as fc.Arbitrary<RequestContext[string]>;
const context: fc.Arbitrary<RequestContext> = fc.dictionary(fc.constantFrom(...KEYS), contextValue, {
  maxKeys: 4,
});

const authorizationRequest: fc.Arbitrary<AuthorizationRequest> = fc.record({
  action: fc.constantFrom(...ACTIONS),
  resource: fc.oneof(fc.constantFrom(...RESOURCES), fc.string({ minLength: 1, maxLength: 8 })),
  context,
});

const documents = fc.array(document, { minLength: 0, maxLength: 3 });

// ---- properties --------------------------------------------------------------------------------------

describe('evaluatePolicies: properties', () => {
  it('a session policy never allows more: allowed with a session policy implies allowed without', () => {
    let allowedWithSession = 0;
    fc.assert(
      fc.property(
        documents,
        fc.array(document, { minLength: 1, maxLength: 2 }),
        authorizationRequest,
        (identity, session, request) => {
          const narrowed = evaluatePolicies(request, { identity, session });
          if (!narrowed.allowed) return;
          allowedWithSession++;
          expect(evaluatePolicies(request, { identity }).allowed).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
    // Not vacuous: the intersection does allow in a fair share of runs.
    expect(allowedWithSession).toBeGreaterThan(20);
  });

  it('the intersection exactly: allowed with a session policy iff each side alone allows', () => {
    fc.assert(
      fc.property(
        documents,
        fc.array(document, { minLength: 1, maxLength: 2 }),
        authorizationRequest,
        (identity, session, request) => {
          const both = evaluatePolicies(request, { identity, session }).allowed;
          const identityAlone = evaluatePolicies(request, { identity }).allowed;
          const sessionAlone = evaluatePolicies(request, { identity: session }).allowed;
          expect(both).toBe(identityAlone && sessionAlone);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('the generators exercise both outcomes (a sanity check for the properties above)', () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(documents, authorizationRequest, (identity, request) => {
        outcomes.add(evaluatePolicies(request, { identity }).decision);
      }),
      { numRuns: 500 },
    );
    expect([...outcomes].sort()).toEqual(['Allow', 'ExplicitDeny', 'ImplicitDeny']);
  });

  it('an explicit Deny always wins: adding a matching Deny anywhere makes the decision ExplicitDeny', () => {
    /** A Deny that matches the request whatever its case or wildcards, with a condition that holds. */
    const matchingDeny = (request: AuthorizationRequest) =>
      fc
        .record({
          action: fc.constantFrom(
            '*',
            request.action,
            request.action.toUpperCase(),
            `${request.action.slice(0, 3)}*`,
          ),
          resource: fc.constantFrom('*', request.resource, `${request.resource}*`),
          condition: fc.constantFrom<PolicyStatement['Condition']>(
            undefined,
            { Null: { 'fed:never-present': 'true' } },
            { 'ForAllValues:StringEquals': { 'fed:never-present': 'x' } },
            { StringNotEqualsIfExists: { 'fed:never-present': 'x' } },
          ),
        })
        .map(({ action, resource, condition }): PolicyStatement => ({
          Sid: 'Added',
          Effect: 'Deny',
          Action: action,
          Resource: resource,
          ...(condition === undefined ? {} : { Condition: condition }),
        }));
    const scenario = authorizationRequest.chain((request) =>
      fc.record({
        request: fc.constant({ ...request, context: { ...request.context, 'fed:never-present': undefined } }),
        deny: matchingDeny(request),
        identity: fc.array(document, { minLength: 1, maxLength: 3 }),
        session: fc.option(fc.array(document, { minLength: 1, maxLength: 2 }), { nil: undefined }),
        target: fc.record({ session: fc.boolean(), document: fc.nat(), position: fc.nat() }),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ request, deny, identity, session, target }) => {
        const intoSession = target.session && session !== undefined;
        const list = intoSession ? session : identity;
        const at = target.document % list.length;
        const statements = [list[at]!.Statement].flat();
        statements.splice(target.position % (statements.length + 1), 0, deny);
        const changed = [...list];
        changed[at] = policyDocumentSchema.parse({ Version: '2012-10-17', Statement: statements });
        const policies = intoSession
          ? { identity, session: changed }
          : { identity: changed, ...(session === undefined ? {} : { session }) };
        const decision = evaluatePolicies(request, policies);
        expect(decision.allowed).toBe(false);
        expect(decision.decision).toBe('ExplicitDeny');
        expect(decision.statement?.effect).toBe('Deny');
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on a schema-valid policy, whether or not validation finds problems', () => {
    let clean = 0;
    fc.assert(
      fc.property(
        documents,
        fc.option(documents, { nil: undefined }),
        authorizationRequest,
        (identity, session, request) => {
          for (const policy of [...identity, ...(session ?? [])])
            if (validatePolicyForEvaluation(policy).length === 0) clean++;
          const decision = evaluatePolicies(request, {
            identity,
            ...(session === undefined ? {} : { session }),
          });
          expect(['Allow', 'ExplicitDeny', 'ImplicitDeny']).toContain(decision.decision);
          expect(decision.allowed).toBe(decision.decision === 'Allow');
          expect(typeof decision.reason).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
    // Enough of the generated policies pass validation for the property to cover that case too.
    expect(clean).toBeGreaterThan(500);
  });
});

// ---- the glob matcher against a reference --------------------------------------------------------------

/**
 * The reference: every character escaped for a RegExp, `*` -> any run, `?` -> one code point (`u` flag),
 * anchored at both ends. Fine here because these patterns are short and generated by the test.
 */
function referenceGlob(pattern: string, text: string): boolean {
  const body = Array.from(pattern)
    .map((char) =>
      char === '*' ? '[\\s\\S]*' : char === '?' ? '[\\s\\S]' : char.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${body}$`, 'u').test(text);
}

/** Characters that matter: wildcards, RegExp syntax, separators, case pairs, a non-BMP character and its halves. */
const GLOB_CHARS = [
  '\uD83D', // a lone high surrogate: half of 😀 (\uD83D\uDE00), which the text may hold whole
  '\uDE00',
  '*',
  '?',
  'a',
  'b',
  'A',
  ':',
  '/',
  '.',
  '+',
  '(',
  ')',
  '[',
  ']',
  '^',
  '$',
  '\\',
  '|',
  '{',
  '}',
  '-',
  '😀',
  'é',
];
/** Whole characters only: a lone surrogate next to a filler could pair up and change the characters. */
const WHOLE_CHARS = GLOB_CHARS.filter((char) => !/^[\uD800-\uDFFF]$/.test(char));
const globString = (maxLength: number, chars: readonly string[] = GLOB_CHARS) =>
  fc.array(fc.constantFrom(...chars), { maxLength }).map((picked) => picked.join(''));

describe('compileGlob: agrees with an escaped RegExp', () => {
  it('on random patterns and strings', () => {
    fc.assert(
      fc.property(globString(8), globString(10), (pattern, text) => {
        expect(compileGlob(pattern)(text)).toBe(referenceGlob(pattern, text));
      }),
      { numRuns: 5000 },
    );
  });

  it('on strings built to match: each wildcard replaced by random text', () => {
    const case_ = globString(8, WHOLE_CHARS).chain((pattern) =>
      fc
        .array(globString(3, WHOLE_CHARS), { minLength: pattern.length, maxLength: pattern.length })
        .map((fillers) => {
          const chars = Array.from(pattern);
          const text = chars
            .map((char, i) =>
              char === '*' ? fillers[i]! : char === '?' ? (Array.from(fillers[i]!)[0] ?? 'x') : char,
            )
            .join('');
          return { pattern, text };
        }),
    );
    fc.assert(
      fc.property(case_, ({ pattern, text }) => {
        expect(referenceGlob(pattern, text)).toBe(true);
        expect(compileGlob(pattern)(text)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary Unicode, including lone surrogates', () => {
    const anyText = fc.string({ unit: 'binary', maxLength: 8 });
    const withWildcards = fc
      .array(fc.oneof(fc.constantFrom('*', '?'), fc.string({ unit: 'binary', maxLength: 2 })), {
        maxLength: 5,
      })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(withWildcards, anyText, (pattern, text) => {
        expect(compileGlob(pattern)(text)).toBe(referenceGlob(pattern, text));
      }),
      { numRuns: 2000 },
    );
  });
});
