import { describe, expect, it } from 'vitest';
import {
  policyDocumentSchema,
  type PolicyDocument,
  type PolicyStatement,
} from '../../src/policy/document.js';
import {
  evaluatePolicies,
  evaluateSession,
  validatePolicyForEvaluation,
  type AuthorizationRequest,
  type Decision,
  type RequestContext,
} from '../../src/policy/evaluate.js';
import { matchesGlob } from '../../src/policy/glob.js';

/** A policy document through the real schema, so every fixture is one fedproxy would accept. */
function policy(...statements: PolicyStatement[]): PolicyDocument {
  return policyDocumentSchema.parse({ Version: '2012-10-17', Statement: statements });
}

const REPORT = 'arn:fed:reports:::team/payments/q1';

function request(overrides: Partial<AuthorizationRequest> = {}): AuthorizationRequest {
  return { action: 'reports:GetReport', resource: REPORT, context: {}, ...overrides };
}

const allowAll: PolicyStatement = { Effect: 'Allow', Action: '*', Resource: '*' };

/** The decision for one request against one identity policy. */
function decide(statements: PolicyStatement[], overrides: Partial<AuthorizationRequest> = {}): Decision {
  return evaluatePolicies(request(overrides), { identity: [policy(...statements)] });
}

type Condition = NonNullable<PolicyStatement['Condition']>;

/** An Allow-everything statement guarded by one condition block. */
function allowIf(condition: Condition): PolicyStatement {
  return { ...allowAll, Condition: condition };
}

describe('evaluatePolicies: Allow, Deny and the default', () => {
  it('allows when an Allow statement matches, and reports it', () => {
    const decision = decide([
      { Sid: 'Read', Effect: 'Allow', Action: 'reports:GetReport', Resource: REPORT },
    ]);
    expect(decision).toEqual({
      allowed: true,
      decision: 'Allow',
      statement: { policy: 'identity', document: 0, index: 0, sid: 'Read', effect: 'Allow' },
      reason: 'allowed by identity policy 0 statement 0 (Read)',
    });
  });

  it('denies implicitly when no statement matches', () => {
    const decision = decide([{ Effect: 'Allow', Action: 'reports:ListReports', Resource: '*' }]);
    expect(decision).toEqual({
      allowed: false,
      decision: 'ImplicitDeny',
      reason: 'no identity policy statement allows the request',
    });
  });

  it('denies implicitly with no identity policies at all', () => {
    expect(evaluatePolicies(request(), { identity: [] }).decision).toBe('ImplicitDeny');
  });

  it.each([
    ['after the Allow', [allowAll, { Sid: 'NoReports', Effect: 'Deny', Action: 'reports:*', Resource: '*' }]],
    [
      'before the Allow',
      [{ Sid: 'NoReports', Effect: 'Deny', Action: 'reports:*', Resource: '*' }, allowAll],
    ],
  ] satisfies [string, PolicyStatement[]][])(
    'an explicit Deny wins over an Allow (%s)',
    (_case, statements) => {
      const decision = decide(statements);
      expect(decision.allowed).toBe(false);
      expect(decision.decision).toBe('ExplicitDeny');
      expect(decision.statement).toMatchObject({ policy: 'identity', sid: 'NoReports', effect: 'Deny' });
      expect(decision.reason).toMatch(/^explicitly denied by identity policy 0 statement \d \(NoReports\)$/);
    },
  );

  it('a Deny in one identity policy beats an Allow in another, and names its document', () => {
    const decision = evaluatePolicies(request(), {
      identity: [policy(allowAll), policy({ Effect: 'Deny', Action: 'reports:GetReport', Resource: '*' })],
    });
    expect(decision.statement).toEqual({ policy: 'identity', document: 1, index: 0, effect: 'Deny' });
  });

  it('reports the first matching Deny when several match', () => {
    const decision = decide([
      { Sid: 'First', Effect: 'Deny', Action: '*', Resource: '*' },
      { Sid: 'Second', Effect: 'Deny', Action: '*', Resource: '*' },
    ]);
    expect(decision.statement?.sid).toBe('First');
  });

  it('a Deny that does not match leaves the Allow standing', () => {
    const decision = decide([allowAll, { Effect: 'Deny', Action: 'reports:DeleteReport', Resource: '*' }]);
    expect(decision.decision).toBe('Allow');
  });

  it('any one of several identity policies may allow (union)', () => {
    const decision = evaluatePolicies(request(), {
      identity: [policy({ Effect: 'Allow', Action: 'billing:*', Resource: '*' }), policy(allowAll)],
    });
    expect(decision.statement).toMatchObject({ document: 1, index: 0 });
  });

  it('numbers a single-object Statement as statement 0', () => {
    const document = policyDocumentSchema.parse({
      Statement: { Effect: 'Deny', Action: '*', Resource: '*' },
    });
    expect(evaluatePolicies(request(), { identity: [document] }).statement?.index).toBe(0);
  });
});

/** A statement part (`Action`/`NotAction` and/or `Resource`/`NotResource`); the other part defaults to `*`. */
type StatementPart = Partial<Pick<PolicyStatement, 'Action' | 'NotAction' | 'Resource' | 'NotResource'>>;

function allowStatement(part: StatementPart): PolicyStatement {
  return {
    Effect: 'Allow',
    ...(part.Action === undefined && part.NotAction === undefined ? { Action: '*' } : {}),
    ...(part.Resource === undefined && part.NotResource === undefined ? { Resource: '*' } : {}),
    ...part,
  };
}

/** [what it shows, statement part, allowed?, request overrides]; the default request is reports:GetReport on REPORT. */
type MatchCase = [
  name: string,
  part: StatementPart,
  allowed: boolean,
  request?: Partial<AuthorizationRequest>,
];

describe('evaluatePolicies: Action, NotAction, Resource, NotResource and wildcards', () => {
  it.each<MatchCase>([
    ['a custom service prefix is an ordinary action', { Action: 'reports:GetReport' }, true],
    ['an action list is ORed', { Action: ['billing:Pay', 'reports:GetReport'] }, true],
    ['a service wildcard', { Action: 'reports:*' }, true],
    ['another service does not match', { Action: 'billing:*' }, false],
    ['a prefix wildcard', { Action: 'reports:Get*' }, true],
    ['* spans the colon', { Action: 'rep*Report' }, true],
    ['action names are case-insensitive', { Action: 'REPORTS:getreport' }, true],
    [
      'the requested action is case-insensitive too',
      { Action: 'reports:GetReport' },
      true,
      { action: 'Reports:GETREPORT' },
    ],
    ['? matches exactly one character', { Action: 'reports:Get?eport' }, true],
    ['? does not match zero characters', { Action: 'reports:GetReport?' }, false],
    ['? does not match two characters', { Action: 'reports:Ge?port' }, false],
    ['an action pattern matches the whole action, not a prefix', { Action: 'reports:Get' }, false],
    ['NotAction allows what it does not list', { NotAction: 'billing:*' }, true],
    ['NotAction excludes what it lists', { NotAction: ['billing:*', 'reports:Get*'] }, false],
    ['NotAction matching is case-insensitive', { NotAction: 'REPORTS:GETREPORT' }, false],
    ['an exact resource', { Resource: REPORT }, true],
    ['a resource list is ORed', { Resource: ['arn:fed:reports:::other', REPORT] }, true],
    ['* spans / in a resource', { Resource: 'arn:fed:reports:::team/*' }, true],
    ['* spans : in a resource', { Resource: 'arn:*/q1' }, true],
    ['resources are case-sensitive', { Resource: 'arn:fed:reports:::Team/*' }, false],
    ['? in a resource is one character', { Resource: 'arn:fed:reports:::team/payments/q?' }, true],
    ['? is one code point, even outside the BMP', { Resource: 'team/?' }, true, { resource: 'team/😀' }],
    ['a resource need not be an ARN', { Resource: 'team-payments' }, true, { resource: 'team-payments' }],
    ['regex characters in a pattern are literal', { Resource: 'team.(a|b)+' }, false, { resource: 'teamXa' }],
    [
      'a policy variable is literal text, not expanded',
      { Resource: 'home/${aws:username}/*' },
      false,
      { resource: 'home/alice/x', context: { 'aws:username': 'alice' } },
    ],
    [
      '$ matches itself',
      { Resource: 'home/${aws:username}/*' },
      true,
      { resource: 'home/${aws:username}/x' },
    ],
    ['NotResource allows what it does not list', { NotResource: 'arn:fed:billing:*' }, true],
    ['NotResource excludes what it lists', { NotResource: ['x', 'arn:fed:reports:::team/*'] }, false],
  ])('%s', (_name, part, allowed, overrides) => {
    expect(decide([allowStatement(part)], overrides).allowed).toBe(allowed);
  });

  it('a Deny with NotAction denies everything it does not list', () => {
    const statements: PolicyStatement[] = [
      allowAll,
      { Effect: 'Deny', NotAction: 'reports:List*', Resource: '*' },
    ];
    expect(decide(statements).decision).toBe('ExplicitDeny');
    expect(decide(statements, { action: 'reports:ListReports' }).decision).toBe('Allow');
  });

  it('a Deny with NotResource protects everything outside its list', () => {
    const statements: PolicyStatement[] = [
      allowAll,
      { Effect: 'Deny', Action: '*', NotResource: 'arn:fed:reports:::team/payments/*' },
    ];
    expect(decide(statements).decision).toBe('Allow');
    expect(decide(statements, { resource: 'arn:fed:reports:::team/hr/q1' }).decision).toBe('ExplicitDeny');
  });

  it.each([
    ['a lone high surrogate then * does not match the whole pair', '\uD83D*', '😀', false],
    ['? matches a lone surrogate as one character', 'a?', 'a\uDE00', true],
    ['* matches the empty string', '*', '', true],
    ['an empty pattern matches only the empty string', '', 'a', false],
  ])('glob: %s', (_case, pattern, text, expected) => {
    expect(matchesGlob(pattern, text)).toBe(expected);
  });

  it('a pathological pattern cannot make matching explode', () => {
    const started = performance.now();
    expect(matchesGlob(`${'*a'.repeat(30)}*b`, 'a'.repeat(20_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

/** [what it shows, request context, whether the condition holds]. */
type Check = [name: string, context: RequestContext, holds: boolean];

const TEAM = 'fed:team';
const IP = 'aws:SourceIp';
const TIME = 'aws:CurrentTime';
const ARN = 'aws:SourceArn';
const GROUPS = 'fed:groups';

/**
 * Condition cases, grouped by the condition under test. Each check evaluates `Allow *` guarded by the
 * condition against one context: the statement allows exactly when the condition holds.
 */
const conditionCases: [condition: Condition, checks: Check[]][] = [
  // String
  [
    { StringEquals: { [TEAM]: 'payments' } },
    [
      ['an equal value', { [TEAM]: 'payments' }, true],
      ['a different value', { [TEAM]: 'hr' }, false],
      ['values are case-sensitive', { [TEAM]: 'Payments' }, false],
      ['condition keys are case-insensitive', { 'FED:Team': 'payments' }, true],
      ['an absent key: a positive operator is false', {}, false],
      ['an undefined value is absent', { [TEAM]: undefined }, false],
      ['a list without a set qualifier: some value matches', { [TEAM]: ['hr', 'payments'] }, true],
    ],
  ],
  [
    { StringEquals: { 'Fed:TEAM': 'payments' } },
    [['a policy key in another case', { [TEAM]: 'payments' }, true]],
  ],
  [
    { StringEquals: { [TEAM]: 'pay*' } },
    [['* is not a wildcard for StringEquals', { [TEAM]: 'payments' }, false]],
  ],
  [
    { StringEquals: { [TEAM]: ['hr', 'payments'] } },
    [['several values are ORed', { [TEAM]: 'payments' }, true]],
  ],
  [
    { StringEquals: { 'fed:level': 5, 'fed:mfa': true } },
    [
      ['numbers and booleans compare as text', { 'fed:level': '5', 'fed:mfa': 'true' }, true],
      ['a number in the context compares as text', { 'fed:level': 5, 'fed:mfa': true }, true],
      ['several keys are ANDed', { 'fed:level': 5, 'fed:mfa': false }, false],
    ],
  ],
  [
    { StringNotEquals: { [TEAM]: ['hr', 'payments'] } },
    [
      ['several values mean none of them: one is equal', { [TEAM]: 'payments' }, false],
      ['none of several values', { [TEAM]: 'legal' }, true],
      ['an absent key: a negated operator is true, as AWS documents', {}, true],
      ['a list without a set qualifier: every value must differ', { [TEAM]: ['legal', 'hr'] }, false],
      ['a list without a set qualifier: all differ', { [TEAM]: ['legal', 'ops'] }, true],
    ],
  ],
  [
    { StringEqualsIgnoreCase: { [TEAM]: 'PAYMENTS' } },
    [
      ['equal ignoring case', { [TEAM]: 'Payments' }, true],
      ['different', { [TEAM]: 'hr' }, false],
    ],
  ],
  [
    { StringNotEqualsIgnoreCase: { [TEAM]: 'PAYMENTS' } },
    [
      ['equal ignoring case', { [TEAM]: 'payments' }, false],
      ['different', { [TEAM]: 'hr' }, true],
    ],
  ],
  [
    { StringLike: { [TEAM]: ['hr*', 'pay?ent*'] } },
    [
      ['* and ?, several patterns ORed', { [TEAM]: 'payments' }, true],
      ['case-sensitive', { [TEAM]: 'Payments' }, false],
    ],
  ],
  [
    { StringNotLike: { [TEAM]: ['hr*', 'pay*'] } },
    [
      ['a pattern matches', { [TEAM]: 'payments' }, false],
      ['no pattern matches', { [TEAM]: 'legal' }, true],
    ],
  ],
  // Numeric
  [
    { NumericEquals: { 'fed:level': 1 } },
    [
      ['1 equals "1.0"', { 'fed:level': '1.0' }, true],
      ['a different number', { 'fed:level': 2 }, false],
      ['a non-number in the context never matches', { 'fed:level': 'one' }, false],
      ['hex text is not a number', { 'fed:level': '0x1' }, false],
      ['blank text is not zero', { 'fed:level': ' ' }, false],
    ],
  ],
  [
    { NumericNotEquals: { 'fed:level': 1 } },
    [
      ['a different number', { 'fed:level': 2 }, true],
      ['an equal number', { 'fed:level': 1 }, false],
    ],
  ],
  [
    { NumericLessThan: { 'fed:level': 3 } },
    [
      ['below', { 'fed:level': 2.5 }, true],
      ['equal is not less', { 'fed:level': 3 }, false],
    ],
  ],
  [{ NumericLessThanEquals: { 'fed:level': '3' } }, [['equal', { 'fed:level': 3 }, true]]],
  [
    { NumericGreaterThan: { 'fed:level': 0 } },
    [
      ['above', { 'fed:level': '0.5' }, true],
      ['equal is not greater', { 'fed:level': 0 }, false],
    ],
  ],
  [
    { NumericGreaterThanEquals: { 'fed:level': '1e1' } },
    [['equal (exponent notation)', { 'fed:level': 10 }, true]],
  ],
  // Date
  [
    { DateEquals: { [TIME]: '2025-01-01T00:00:00Z' } },
    [
      ['ISO 8601 equals epoch seconds', { [TIME]: 1_735_689_600 }, true],
      ['epoch seconds as text', { [TIME]: '1735689600' }, true],
      ['a date alone is midnight UTC', { [TIME]: '2025-01-01' }, true],
      ['a zone offset is applied', { [TIME]: '2025-01-01T02:00:00+02:00' }, true],
      ['one second later', { [TIME]: '2025-01-01T00:00:01Z' }, false],
    ],
  ],
  [
    { DateNotEquals: { [TIME]: '2025-01-01T00:00:00Z' } },
    [['one second later', { [TIME]: '2025-01-01T00:00:01Z' }, true]],
  ],
  [
    { DateLessThan: { [TIME]: '2025-06-01T00:00:00Z' } },
    [
      ['a millisecond before', { [TIME]: '2025-05-31T23:59:59.999Z' }, true],
      ['at the instant is not before', { [TIME]: '2025-06-01T00:00:00.000Z' }, false],
      ['a context value that is not a date never matches', { [TIME]: 'yesterday' }, false],
      ['an impossible calendar date never matches', { [TIME]: '2025-02-30T00:00:00Z' }, false],
      ['a time without a zone never matches', { [TIME]: '2025-01-01T00:00:00' }, false],
    ],
  ],
  [
    { DateLessThanEquals: { [TIME]: '2025-06-01T00:00:00Z' } },
    [['at the instant', { [TIME]: '2025-06-01T00:00:00Z' }, true]],
  ],
  [
    { DateGreaterThan: { [TIME]: '2025-06-01T00:00:00Z' } },
    [['a second after', { [TIME]: '2025-06-01T00:00:01Z' }, true]],
  ],
  [
    { DateGreaterThanEquals: { [TIME]: 1_748_736_000 } },
    [
      ['before', { [TIME]: '2025-05-01T00:00:00Z' }, false],
      ['at the instant', { [TIME]: '2025-06-01T00:00:00Z' }, true],
    ],
  ],
  // Bool
  [
    { Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
    [
      ['true matches true', { 'aws:MultiFactorAuthPresent': true }, true],
      ['true matches "TRUE"', { 'aws:MultiFactorAuthPresent': 'TRUE' }, true],
      ['true does not match "false"', { 'aws:MultiFactorAuthPresent': 'false' }, false],
      ['anything else never matches', { 'aws:MultiFactorAuthPresent': 'yes' }, false],
    ],
  ],
  [
    { Bool: { 'aws:SecureTransport': false } },
    [['false matches "false"', { 'aws:SecureTransport': 'false' }, true]],
  ],
  // IP addresses
  [
    { IpAddress: { [IP]: ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32'] } },
    [
      ['IPv4 inside a range', { [IP]: '10.200.3.4' }, true],
      ['IPv4 outside every range', { [IP]: '11.0.0.1' }, false],
      ['a single address is a /32', { [IP]: '192.0.2.7' }, true],
      ['next to a single address', { [IP]: '192.0.2.8' }, false],
      ['IPv6 inside a range, uncompressed and upper case', { [IP]: '2001:DB8:0:0:1:0:0:ff' }, true],
      ['IPv6 outside', { [IP]: '2001:db9::1' }, false],
      ['an IPv4-mapped IPv6 address is its IPv4 address', { [IP]: '::ffff:10.1.2.3' }, true],
      ['a malformed context address never matches', { [IP]: '10.0.0.256' }, false],
      ['a context range is not an address', { [IP]: '10.0.0.0/8' }, false],
    ],
  ],
  [
    { IpAddress: { [IP]: '0.0.0.0/0' } },
    [
      ['/0 holds every IPv4 address', { [IP]: '203.0.113.9' }, true],
      ['an IPv4 range never holds IPv6 addresses', { [IP]: '2001:db8::1' }, false],
    ],
  ],
  [
    { IpAddress: { [IP]: '::/0' } },
    [
      ['an IPv6 /0 holds every IPv6 address', { [IP]: 'fe80::1' }, true],
      ['an IPv6 /0 does not hold IPv4 addresses', { [IP]: '10.0.0.1' }, false],
    ],
  ],
  [
    { IpAddress: { [IP]: '2001:db8::1/128' } },
    [['a /128 is one address', { [IP]: '2001:db8:0:0:0:0:0:1' }, true]],
  ],
  [
    { IpAddress: { [IP]: '10.1.2.3/8' } },
    [['host bits under the prefix are ignored', { [IP]: '10.9.9.9' }, true]],
  ],
  [
    { IpAddress: { [IP]: '::ffff:10.0.0.0/104' } },
    [['an IPv4-mapped IPv6 range is its IPv4 range', { [IP]: '10.1.2.3' }, true]],
  ],
  [
    { NotIpAddress: { [IP]: ['10.0.0.0/8', 'fd00::/8'] } },
    [
      ['outside every range', { [IP]: '203.0.113.1' }, true],
      ['inside an IPv6 range', { [IP]: 'fd12::1' }, false],
      ['an absent key: a negated operator is true', {}, true],
    ],
  ],
  // ARNs
  [
    { ArnLike: { [ARN]: 'arn:fed:reports:*:*:team/*' } },
    [
      ['wildcards per component', { [ARN]: REPORT }, true],
      ['case-sensitive', { [ARN]: 'arn:fed:REPORTS:::team/x' }, false],
      ['a context value that is not an ARN never matches', { [ARN]: 'team/payments' }, false],
    ],
  ],
  [
    { ArnLike: { [ARN]: 'arn:*:team/payments/q1' } },
    [['* stays within its component', { [ARN]: REPORT }, false]],
  ],
  [
    { ArnLike: { [ARN]: 'arn:fed:reports:::team:*' } },
    [['the resource component keeps its colons', { [ARN]: 'arn:fed:reports:::team:a:b' }, true]],
  ],
  [
    { ArnEquals: { [ARN]: 'arn:fed:reports:::team/payments/q?' } },
    [['ArnEquals takes wildcards like ArnLike', { [ARN]: REPORT }, true]],
  ],
  [{ ArnNotEquals: { [ARN]: REPORT } }, [['an equal ARN', { [ARN]: REPORT }, false]]],
  [
    { ArnNotLike: { [ARN]: 'arn:fed:billing:*:*:*' } },
    [
      ['no match', { [ARN]: REPORT }, true],
      ['a context value that is not an ARN is not like it', { [ARN]: 'team/payments' }, true],
    ],
  ],
  // Null
  [
    { Null: { [TEAM]: 'true' } },
    [
      ['true: the key is absent', {}, true],
      ['true: the key is present', { [TEAM]: 'payments' }, false],
    ],
  ],
  [
    { Null: { [TEAM]: false } },
    [
      ['false: an empty string is present', { [TEAM]: '' }, true],
      ['false: an undefined value is absent', { [TEAM]: undefined }, false],
      ['false: an empty list is absent', { [TEAM]: [] }, false],
    ],
  ],
  // IfExists
  [
    { StringEqualsIfExists: { [TEAM]: 'payments' } },
    [
      ['an absent key holds', {}, true],
      ['a present key must match', { [TEAM]: 'hr' }, false],
      ['a present key that matches', { [TEAM]: 'payments' }, true],
    ],
  ],
  [
    { StringNotEqualsIfExists: { [TEAM]: 'payments' } },
    [['a negated operator, present and equal', { [TEAM]: 'payments' }, false]],
  ],
  [
    { NumericLessThanIfExists: { 'fed:level': 3 } },
    [['Numeric, present and below', { 'fed:level': 2 }, true]],
  ],
  [{ DateGreaterThanIfExists: { [TIME]: '2025-01-01T00:00:00Z' } }, [['Date, absent', {}, true]]],
  [
    { IpAddressIfExists: { [IP]: '10.0.0.0/8' } },
    [['IpAddress, present and outside', { [IP]: '192.0.2.1' }, false]],
  ],
  [{ BoolIfExists: { 'aws:MultiFactorAuthPresent': true } }, [['Bool, absent', {}, true]]],
  [
    { ArnLikeIfExists: { [ARN]: 'arn:fed:*:*:*:*' } },
    [['ArnLike, present and matching', { [ARN]: REPORT }, true]],
  ],
  // Set qualifiers
  [
    { 'ForAllValues:StringEquals': { [GROUPS]: ['a', 'b', 'c'] } },
    [
      ['every value in the set', { [GROUPS]: ['a', 'c'] }, true],
      ['one value outside the set', { [GROUPS]: ['a', 'z'] }, false],
      ['an absent key holds', {}, true],
      ['an empty list holds', { [GROUPS]: [] }, true],
      ['context keys differing only in case are one key', { [GROUPS]: ['a'], 'FED:GROUPS': 'z' }, false],
    ],
  ],
  [
    { 'ForAllValues:StringLike': { [GROUPS]: 'team-*' } },
    [['every value like the pattern', { [GROUPS]: ['team-a', 'team-b'] }, true]],
  ],
  [
    { 'ForAllValues:StringNotEquals': { [GROUPS]: ['admin', 'root'] } },
    [
      ['a negated operator: no value in the set', { [GROUPS]: ['a', 'b'] }, true],
      ['a negated operator: one value in the set', { [GROUPS]: ['a', 'admin'] }, false],
    ],
  ],
  [
    { 'ForAllValues:NumericLessThan': { 'fed:sizes': 10 } },
    [['numbers, one too large', { 'fed:sizes': [1, '2', 10] }, false]],
  ],
  [
    { 'ForAnyValue:StringEquals': { [GROUPS]: ['admin', 'ops'] } },
    [
      ['one value in the set', { [GROUPS]: ['dev', 'ops'] }, true],
      ['no value in the set', { [GROUPS]: ['dev', 'qa'] }, false],
      ['an absent key is false', {}, false],
      ['an empty list is false', { [GROUPS]: [] }, false],
      ['a scalar is a one-value set', { [GROUPS]: 'ops' }, true],
    ],
  ],
  [
    { 'ForAnyValue:StringNotEquals': { [GROUPS]: 'ops' } },
    [
      ['a negated operator: some value outside the set', { [GROUPS]: ['ops', 'dev'] }, true],
      ['a negated operator: every value in the set', { [GROUPS]: ['ops'] }, false],
      ['a negated operator: an absent key is false', {}, false],
    ],
  ],
  [
    { 'ForAnyValue:StringEqualsIfExists': { [GROUPS]: 'ops' } },
    [['IfExists: an absent key holds', {}, true]],
  ],
  [
    { 'ForAnyValue:IpAddress': { 'fed:ips': '10.0.0.0/8' } },
    [['addresses, one inside', { 'fed:ips': ['192.0.2.1', '10.9.9.9'] }, true]],
  ],
  // Several operators
  [
    { StringEquals: { [TEAM]: 'payments' }, IpAddress: { [IP]: '10.0.0.0/8' } },
    [
      ['several operators are ANDed: both hold', { [TEAM]: 'payments', [IP]: '10.0.0.1' }, true],
      ['several operators are ANDed: one fails', { [TEAM]: 'payments', [IP]: '192.0.2.1' }, false],
    ],
  ],
  // Malformed conditions never apply
  [
    { StringEqualz: { [TEAM]: 'payments' } },
    [['an unknown operator: the statement does not apply', { [TEAM]: 'payments' }, false]],
  ],
  [
    { stringEquals: { [TEAM]: 'payments' } },
    [['operator names are case-sensitive', { [TEAM]: 'payments' }, false]],
  ],
  [
    { NotIpAddress: { [IP]: '10.0.0.0/33' } },
    [['a malformed CIDR: the statement does not apply', { [IP]: '192.0.2.1' }, false]],
  ],
];

describe('evaluatePolicies: condition operators', () => {
  it.each(
    conditionCases.flatMap(([condition, checks]) =>
      checks.map(
        ([name, context, holds]) =>
          [`${name}: ${JSON.stringify(condition)}`, condition, context, holds] as const,
      ),
    ),
  )('%s', (_title, condition, context, holds) => {
    expect(decide([allowIf(condition)], { context }).allowed).toBe(holds);
  });

  it('a Deny whose condition holds denies; one whose condition fails does not', () => {
    const deny: PolicyStatement = {
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringNotEquals: { [TEAM]: 'payments' } },
    };
    expect(decide([allowAll, deny], { context: { [TEAM]: 'hr' } }).decision).toBe('ExplicitDeny');
    expect(decide([allowAll, deny], { context: { [TEAM]: 'payments' } }).decision).toBe('Allow');
    // The key is absent: a negated operator holds, so the Deny applies (fail closed).
    expect(decide([allowAll, deny], { context: {} }).decision).toBe('ExplicitDeny');
  });

  it('a Deny with an unknown operator does not apply (validation refuses it beforehand)', () => {
    const deny: PolicyStatement = {
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { Nope: { [TEAM]: 'x' } },
    };
    expect(decide([allowAll, deny]).decision).toBe('Allow');
  });

  it('ignores context values that are not strings, numbers or booleans instead of throwing', () => {
    const context = { [TEAM]: null, 'fed:groups': [{}, 'ops'] } as unknown as RequestContext;
    expect(
      decide([allowIf({ 'ForAnyValue:StringEquals': { 'fed:groups': 'ops' } })], { context }).allowed,
    ).toBe(true);
    expect(decide([allowIf({ Null: { [TEAM]: true } })], { context }).allowed).toBe(true);
  });
});

describe('evaluatePolicies: session policies narrow', () => {
  const readReports = policy({ Sid: 'Reports', Effect: 'Allow', Action: 'reports:*', Resource: '*' });

  it('allows when both the identity and the session policy allow, reporting both', () => {
    const decision = evaluatePolicies(request(), {
      identity: [readReports],
      session: [
        policy({
          Sid: 'OnlyGet',
          Effect: 'Allow',
          Action: 'reports:Get*',
          Resource: 'arn:fed:reports:::team/*',
        }),
      ],
    });
    expect(decision).toEqual({
      allowed: true,
      decision: 'Allow',
      statement: { policy: 'identity', document: 0, index: 0, sid: 'Reports', effect: 'Allow' },
      sessionStatement: { policy: 'session', document: 0, index: 0, sid: 'OnlyGet', effect: 'Allow' },
      reason: 'allowed by identity policy 0 statement 0 (Reports) and session policy 0 statement 0 (OnlyGet)',
    });
  });

  it('denies implicitly when the session policy does not allow, naming the session policy', () => {
    const decision = evaluatePolicies(request(), {
      identity: [readReports],
      session: [policy({ Effect: 'Allow', Action: 'reports:List*', Resource: '*' })],
    });
    expect(decision).toEqual({
      allowed: false,
      decision: 'ImplicitDeny',
      reason: 'the session policy does not allow the request; identity policy 0 statement 0 (Reports) would',
    });
  });

  it('a session policy cannot widen what the identity policy allows', () => {
    const decision = evaluatePolicies(request({ action: 'billing:Pay' }), {
      identity: [readReports],
      session: [policy(allowAll)],
    });
    expect(decision).toMatchObject({ allowed: false, decision: 'ImplicitDeny' });
    expect(decision.reason).toBe('no identity policy statement allows the request');
  });

  it('an explicit Deny in a session policy wins', () => {
    const decision = evaluatePolicies(request(), {
      identity: [readReports],
      session: [policy(allowAll, { Sid: 'NoGet', Effect: 'Deny', Action: 'reports:Get*', Resource: '*' })],
    });
    expect(decision.decision).toBe('ExplicitDeny');
    expect(decision.statement).toEqual({
      policy: 'session',
      document: 0,
      index: 1,
      sid: 'NoGet',
      effect: 'Deny',
    });
  });

  it('an identity Deny is reported before a session Deny', () => {
    const deny = policy({ Effect: 'Deny', Action: '*', Resource: '*' });
    const decision = evaluatePolicies(request(), { identity: [readReports, deny], session: [deny] });
    expect(decision.statement).toMatchObject({ policy: 'identity', document: 1 });
  });

  it('several session policies are a union', () => {
    const decision = evaluatePolicies(request(), {
      identity: [readReports],
      session: [policy({ Effect: 'Allow', Action: 'reports:List*', Resource: '*' }), policy(allowAll)],
    });
    expect(decision.sessionStatement).toMatchObject({ document: 1 });
  });

  it('an empty session list is no session policy', () => {
    expect(evaluatePolicies(request(), { identity: [readReports], session: [] }).decision).toBe('Allow');
  });
});

describe('validatePolicyForEvaluation', () => {
  it('finds nothing wrong in a policy using every operator family', () => {
    const document = policy(
      allowIf({
        StringEquals: { a: ['x', 1, true] },
        StringNotLikeIfExists: { b: 'x*' },
        'ForAllValues:StringEqualsIgnoreCase': { c: 'X' },
        NumericLessThan: { d: '1.5' },
        DateGreaterThan: {
          e: [
            '2025-01-01',
            '2025-01-01T00:00Z',
            '2025-01-01T00:00:00.123456+05:30',
            1_735_689_600,
            '1735689600',
          ],
        },
        Bool: { f: 'true' },
        'ForAnyValue:IpAddress': {
          g: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1', '::ffff:1.2.3.4/128'],
        },
        ArnLike: { h: 'arn:*:*:*:*:*' },
        Null: { i: [true, 'false'] },
      }),
    );
    expect(validatePolicyForEvaluation(document)).toEqual([]);
  });

  it.each([
    [
      'an unknown operator',
      { StringEqualz: { a: 'x' } },
      'Statement[0].Condition.StringEqualz',
      /unknown condition operator "StringEqualz"/,
    ],
    [
      'a wrongly cased operator, with a hint',
      { numericEquals: { a: 1 } },
      'Statement[0].Condition.numericEquals',
      /case-sensitive: NumericEquals/,
    ],
    [
      'a Null with a set qualifier',
      { 'ForAnyValue:Null': { a: true } },
      'Statement[0].Condition.ForAnyValue:Null',
      /Null takes no set qualifier/,
    ],
    ['NullIfExists', { NullIfExists: { a: true } }, 'Statement[0].Condition.NullIfExists', /no IfExists/],
    [
      'a Null value that is not a boolean',
      { Null: { a: 'yes' } },
      'Statement[0].Condition.Null.a',
      /Null needs true or false/,
    ],
    [
      'a malformed CIDR',
      { IpAddress: { ip: ['10.0.0.0/8', '10.0.0.0/33'] } },
      'Statement[0].Condition.IpAddress.ip[1]',
      /IpAddress needs an IP address or CIDR range, not "10.0.0.0\/33"/,
    ],
    [
      'an IPv4 octet above 255',
      { NotIpAddress: { ip: '10.0.0.256/32' } },
      'Statement[0].Condition.NotIpAddress.ip',
      /NotIpAddress needs/,
    ],
    [
      'an IPv4 octet with a leading zero',
      { IpAddress: { ip: '010.0.0.0/8' } },
      'Statement[0].Condition.IpAddress.ip',
      /IpAddress needs/,
    ],
    [
      'two :: in an IPv6 address',
      { IpAddress: { ip: '2001::db8::/32' } },
      'Statement[0].Condition.IpAddress.ip',
      /IpAddress needs/,
    ],
    [
      'an IPv6 zone',
      { IpAddress: { ip: 'fe80::1%eth0' } },
      'Statement[0].Condition.IpAddress.ip',
      /IpAddress needs/,
    ],
    [
      'an IPv6 prefix above 128',
      { IpAddress: { ip: '::/129' } },
      'Statement[0].Condition.IpAddress.ip',
      /IpAddress needs/,
    ],
    [
      'a non-date for a Date operator',
      { DateLessThan: { t: 'next week' } },
      'Statement[0].Condition.DateLessThan.t',
      /DateLessThan needs a date/,
    ],
    [
      'a date-time without a zone',
      { DateLessThan: { t: '2025-01-01T00:00:00' } },
      'Statement[0].Condition.DateLessThan.t',
      /needs a date/,
    ],
    [
      'an impossible date',
      { DateEquals: { t: '2025-02-29' } },
      'Statement[0].Condition.DateEquals.t',
      /needs a date/,
    ],
    [
      'a boolean for a Date operator',
      { DateEquals: { t: true } },
      'Statement[0].Condition.DateEquals.t',
      /needs a date/,
    ],
    [
      'a non-number for a Numeric operator',
      { NumericEquals: { n: 'ten' } },
      'Statement[0].Condition.NumericEquals.n',
      /NumericEquals needs a number, not "ten"/,
    ],
    [
      'a non-boolean for Bool',
      { Bool: { b: 'yes' } },
      'Statement[0].Condition.Bool.b',
      /Bool needs true or false/,
    ],
    [
      'an ARN pattern without six components',
      { ArnLike: { a: 'arn:fed:*' } },
      'Statement[0].Condition.ArnLike.a',
      /ArnLike needs an ARN/,
    ],
    [
      'a number for an IP operator',
      { IpAddress: { ip: 10 } },
      'Statement[0].Condition.IpAddress.ip',
      /IpAddress needs/,
    ],
  ] satisfies [string, Condition, string, RegExp][])('reports %s', (_case, condition, path, message) => {
    const problems = validatePolicyForEvaluation(policy(allowIf(condition)));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe(path);
    expect(problems[0]?.message).toMatch(message);
  });

  it('reports an empty value list, which only a document built in code can hold', () => {
    const document: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [{ ...allowAll, Condition: { StringNotEquals: { [TEAM]: [] } } }],
    };
    expect(validatePolicyForEvaluation(document)).toEqual([
      { path: 'Statement[0].Condition.StringNotEquals.fed:team', message: 'no value to compare with' },
    ]);
    expect(evaluatePolicies(request({ context: { [TEAM]: 'x' } }), { identity: [document] }).allowed).toBe(
      false,
    );
  });

  it('reports every problem at once, with single-object Statement paths', () => {
    const document = policyDocumentSchema.parse({
      Statement: allowIf({ Foo: { a: 'x' }, NumericEquals: { n: ['1', 'x', 'y'] } }),
    });
    expect(validatePolicyForEvaluation(document).map((p) => p.path)).toEqual([
      'Statement.Condition.Foo',
      'Statement.Condition.NumericEquals.n[1]',
      'Statement.Condition.NumericEquals.n[2]',
    ]);
  });
});

describe('evaluateSession', () => {
  const role = JSON.stringify(
    policy({ Effect: 'Allow', Action: 'reports:*', Resource: 'arn:fed:reports:::team/*' }),
  );

  it('evaluates the stored role policy', () => {
    expect(evaluateSession({ policy: role }, request()).decision).toBe('Allow');
    expect(evaluateSession({ policy: role }, request({ action: 'billing:Pay' })).decision).toBe(
      'ImplicitDeny',
    );
  });

  it('intersects with the stored session policy', () => {
    const sessionPolicy = JSON.stringify({
      Statement: { Effect: 'Allow', Action: 'reports:List*', Resource: '*' },
    });
    const decision = evaluateSession({ policy: role, sessionPolicy }, request());
    expect(decision.reason).toMatch(/^the session policy does not allow the request/);
    expect(
      evaluateSession({ policy: role, sessionPolicy }, request({ action: 'reports:ListReports' })).allowed,
    ).toBe(true);
  });

  it('answers the same for a cached policy text', () => {
    const first = evaluateSession({ policy: role }, request());
    expect(evaluateSession({ policy: role }, request())).toEqual(first);
  });

  it.each([
    ['a role policy that is not JSON', { policy: '{"Statement":' }, "the session's role policy is not JSON"],
    [
      'a role policy that is not a policy document',
      { policy: '{"Statement":[{"Effect":"Allow","Action":"*","Resources":"*"}]}' },
      /^the session's role policy is not a policy document at Statement/,
    ],
    [
      'a session policy that cannot be evaluated',
      {
        policy: role,
        sessionPolicy:
          '{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Nope":{"a":"b"}}}}',
      },
      'the session policy cannot be evaluated at Statement.Condition.Nope: unknown condition operator "Nope"',
    ],
  ] satisfies [string, { policy: string; sessionPolicy?: string }, string | RegExp][])(
    'fails closed on %s',
    (_case, record, reason) => {
      const decision = evaluateSession(record, request());
      expect(decision).toMatchObject({ allowed: false, decision: 'ImplicitDeny' });
      expect(decision.statement).toBeUndefined();
      expect(decision.reason).toMatch(reason);
    },
  );

  it('keeps serving correct answers past the cache bound', () => {
    for (let i = 0; i < 600; i++) {
      const text = JSON.stringify(policy({ Effect: 'Allow', Action: `reports:Get${i}`, Resource: '*' }));
      expect(evaluateSession({ policy: text }, request({ action: `reports:get${i}` })).allowed).toBe(true);
    }
    expect(evaluateSession({ policy: role }, request()).allowed).toBe(true);
  });
});
