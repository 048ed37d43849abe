import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../src/auth/identity.js';
import { policyDocumentSchema, type PolicyDocument } from '../../src/policy/document.js';
import { PolicyTemplateError, renderPolicyTemplate } from '../../src/policy/templates.js';

/*
 * Property tests for template rendering with hostile identity values. The oracle below is written
 * independently of src/policy/templates.ts (regex split instead of a scanner) and states the contract:
 * a render succeeds exactly when every value it needs is allow-listed, and then equals plain substitution.
 */

// ---- the contract, restated -------------------------------------------------------------------------

const ALLOWED = /^[A-Za-z0-9._@+=,-]+$/;
const GROUP = '${fed:group}';

function isAllowed(value: string, max: number): boolean {
  return (
    value.length >= 1 && value.length <= max && ALLOWED.test(value) && value !== '.' && !value.includes('..')
  );
}

/** The raw single value of a variable, or undefined when missing, multi-valued or not for this protocol. */
function rawValue(variable: string, identity: Identity): string | undefined {
  const single = (v: string | string[] | undefined) =>
    Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
  switch (variable) {
    case '${fed:username}':
      return identity.username;
    case '${fed:sub}':
      return identity.subject;
    case '${fed:email}':
      return identity.email;
    case '${fed:idp}':
      return identity.idp;
    case '${saml:dept}':
      return identity.protocol === 'saml' ? single(identity.attributes['dept']) : undefined;
    case '${oidc:team}':
      return identity.protocol === 'oidc' ? single(identity.attributes['team']) : undefined;
    default:
      return undefined;
  }
}

class OracleFailure extends Error {}

/** What one template leaf must render to: a string, or (with `${fed:group}`) a list. */
function expectedLeaf(leaf: string, identity: Identity, groups: string[], max: number): string | string[] {
  const substitute = (group: string | undefined) =>
    leaf.replace(/\$\{[^}]*\}/g, (variable) => {
      const value = variable === GROUP ? group : rawValue(variable, identity);
      if (value === undefined || !isAllowed(value, max)) throw new OracleFailure(variable);
      return value;
    });
  if (!leaf.includes(GROUP)) return substitute(undefined);
  const unique = [...new Set(groups)];
  if (unique.length === 0) throw new OracleFailure(GROUP);
  // Every group is checked, even when another variable would fail first.
  for (const g of unique) if (!isAllowed(g, max)) throw new OracleFailure(GROUP);
  return unique.map(substitute);
}

function expectedDocument(value: unknown, identity: Identity, groups: string[], max: number): unknown {
  if (typeof value === 'string') return expectedLeaf(value, identity, groups, max);
  if (Array.isArray(value))
    return value.flatMap((v: unknown) =>
      typeof v === 'string'
        ? [expectedLeaf(v, identity, groups, max)].flat()
        : [expectedDocument(v, identity, groups, max)],
    );
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expectedDocument(v, identity, groups, max)]),
    );
  return value;
}

/**
 * Walks template and rendered output together, asserting they have the same shape (same keys, same
 * statement count, same array lengths except that a `${fed:group}` leaf becomes `groupCount` strings and a
 * scalar such leaf becomes a list), and hands every (template leaf, rendered leaf) pair to `check`.
 */
function forEachLeafPair(
  template: unknown,
  rendered: unknown,
  groupCount: number,
  check: (templateLeaf: string, renderedLeaf: string) => void,
): void {
  if (typeof template === 'string') {
    if (template.includes(GROUP)) {
      expect(Array.isArray(rendered)).toBe(true);
      expect(rendered).toHaveLength(groupCount);
      for (const r of rendered as unknown[]) {
        expect(typeof r).toBe('string');
        check(template, r as string);
      }
    } else {
      expect(typeof rendered).toBe('string');
      check(template, rendered as string);
    }
    return;
  }
  if (Array.isArray(template)) {
    expect(Array.isArray(rendered)).toBe(true);
    const out = rendered as unknown[];
    const width = (t: unknown) => (typeof t === 'string' && t.includes(GROUP) ? groupCount : 1);
    expect(out).toHaveLength(template.reduce((n: number, t: unknown) => n + width(t), 0));
    let at = 0;
    for (const t of template as unknown[]) {
      if (typeof t !== 'string') forEachLeafPair(t, out[at], groupCount, check);
      else
        for (const r of out.slice(at, at + width(t))) {
          expect(typeof r).toBe('string');
          check(t, r as string);
        }
      at += width(t);
    }
    return;
  }
  if (typeof template === 'object' && template !== null) {
    expect(typeof rendered === 'object' && rendered !== null && !Array.isArray(rendered)).toBe(true);
    expect(Object.keys(rendered as object)).toEqual(Object.keys(template));
    for (const [k, v] of Object.entries(template))
      forEachLeafPair(v, (rendered as Record<string, unknown>)[k], groupCount, check);
    return;
  }
  expect(rendered).toBe(template);
}

const wildcards = (s: string) => [...s].filter((c) => c === '*' || c === '?').length;

/**
 * The template leaf as a pattern: literal text exactly, each variable 1..max allow-listed characters.
 * (Adjacent variables make the split ambiguous, so the `.` / `..` rules are left to the oracle property.)
 */
function leafPattern(leaf: string, max: number): RegExp {
  const parts = leaf.split(/(\$\{[^}]*\})/);
  const source = parts
    .map((p, i) => (i % 2 === 1 ? `[A-Za-z0-9._@+=,-]{1,${max}}` : p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

// ---- arbitraries ------------------------------------------------------------------------------------

const allowedValue = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,12}$/);
const hostilePieces = [
  '*',
  '?',
  '$',
  '{',
  '}',
  '${',
  '${fed:sub}',
  '${*}',
  '"',
  "'",
  '\\',
  '/',
  ':',
  '..',
  '../',
  '.',
  '\u0000',
  '\n',
  '\r',
  '\t',
  '\u007f',
  '\u001b',
  ' ',
  '\u200b',
  '\u00a0',
  '\uff0a',
  '\uff1f',
  '\uff04',
  '\uff5b',
  '\uff0f',
  '\u0430',
  '\u{1f600}',
  '\ud800',
];
const hostileValue = fc.oneof(
  fc.tuple(allowedValue, fc.constantFrom(...hostilePieces), allowedValue).map(([a, h, b]) => a + h + b),
  fc.constantFrom(...hostilePieces),
  fc.string({ unit: fc.constantFrom(...'ab.*?${}"\\/\u0000\uff0a'.split('')), maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  fc.constantFrom('', '.', '..', '../../etc/passwd', 'a'.repeat(10_240), '*'.repeat(10_240)),
  allowedValue.map((v) => v.repeat(Math.ceil(10_240 / v.length))),
);
/** Mostly allowed values, so successful renders are well exercised too. */
/**
 * Identities come in two flavours so both outcomes are well exercised: one where a few values are hostile
 * (most renders fail, each for one reason), and one where every value is allowed and present (most renders
 * succeed, so the shape and substitution checks see real output).
 */
function identityWith(value: fc.Arbitrary<string>, complete: boolean): fc.Arbitrary<Identity> {
  const attribute = complete
    ? value
    : fc.oneof(
        { weight: 4, arbitrary: value as fc.Arbitrary<string | string[]> },
        { weight: 1, arbitrary: fc.array(value, { maxLength: 3 }) },
      );
  const maybe = <T>(arb: fc.Arbitrary<T>) => (complete ? arb : fc.option(arb, { nil: undefined }));
  return fc
    .record({
      protocol: fc.constantFrom('oidc' as const, 'saml' as const),
      idp: value,
      subject: value,
      username: value,
      email: maybe(value),
      dept: maybe(attribute),
      team: maybe(attribute),
      groups: fc.array(value, { maxLength: 3 }),
    })
    .map(({ dept, team, ...rest }) => ({
      ...rest,
      issuer: 'https://idp.example',
      attributes: {
        ...(dept === undefined ? {} : { dept }),
        ...(team === undefined ? {} : { team }),
      },
      authTime: 0,
    }));
}
const identityValue = fc.oneof(
  { weight: 3, arbitrary: allowedValue },
  { weight: 2, arbitrary: hostileValue },
);
const identityArb: fc.Arbitrary<Identity> = fc.oneof(
  identityWith(identityValue, false),
  identityWith(
    fc.oneof({ weight: 19, arbitrary: allowedValue }, { weight: 1, arbitrary: hostileValue }),
    true,
  ),
);

const variable = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('${fed:username}', '${fed:sub}', '${fed:email}', '${fed:idp}') },
  { weight: 2, arbitrary: fc.constant('${fed:group}') },
  { weight: 1, arbitrary: fc.constantFrom('${saml:dept}', '${oidc:team}') },
);
/** Literal template text, with the wildcards a template legitimately holds. */
const literal = fc.stringMatching(/^[a-z0-9:/*?.-]{1,8}$/);
const leaf = fc
  .array(fc.oneof(literal, variable), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join(''));
const stringOrList = fc.oneof(leaf, fc.array(leaf, { minLength: 1, maxLength: 3 }));
const statement = fc.record(
  {
    Sid: fc.stringMatching(/^[A-Za-z0-9]{1,6}$/),
    Effect: fc.constantFrom('Allow' as const, 'Deny' as const),
    Action: stringOrList,
    Resource: stringOrList,
    Condition: fc.record({
      StringLike: fc.record({ 'reports:owner': stringOrList }),
      NumericLessThan: fc.constant({ 'reports:size': 5 }),
    }),
  },
  { requiredKeys: ['Effect', 'Action', 'Resource'] },
);
const templateArb: fc.Arbitrary<PolicyDocument> = fc.record({
  Version: fc.constant('2012-10-17' as const),
  Statement: fc.oneof(statement, fc.array(statement, { minLength: 1, maxLength: 3 })),
});

const renderOptionsArb = fc.record({
  maxValueLength: fc.oneof(
    { weight: 3, arbitrary: fc.constant(128) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 16 }) },
  ),
  groups: fc.oneof(
    fc.array(identityValue, { maxLength: 4 }),
    fc.array(allowedValue, { minLength: 1, maxLength: 4 }),
  ),
});

type Outcome = { ok: true; policy: PolicyDocument } | { ok: false; error: unknown };
function attempt(
  template: PolicyDocument,
  identity: Identity,
  options: { maxValueLength: number; groups: string[] },
): Outcome {
  try {
    return { ok: true, policy: renderPolicyTemplate(template, identity, options) };
  } catch (error) {
    return { ok: false, error };
  }
}

const RUNS = { numRuns: 500 };

// ---- properties -------------------------------------------------------------------------------------

describe('renderPolicyTemplate properties', () => {
  it('the generated templates are valid policy documents (sanity)', () => {
    fc.assert(
      fc.property(templateArb, (t) => {
        expect(policyDocumentSchema.safeParse(t).error?.issues).toBeUndefined();
      }),
    );
  });

  it('succeeds exactly when every needed value is allow-listed, and then equals plain substitution', () => {
    fc.assert(
      fc.property(templateArb, identityArb, renderOptionsArb, (template, identity, options) => {
        let expected: unknown;
        try {
          expected = expectedDocument(template, identity, options.groups, options.maxValueLength);
        } catch (error) {
          if (!(error instanceof OracleFailure)) throw error;
          expected = error;
        }
        const outcome = attempt(template, identity, options);
        if (expected instanceof OracleFailure) {
          expect(outcome.ok).toBe(false);
          if (!outcome.ok) expect(outcome.error).toBeInstanceOf(PolicyTemplateError);
        } else {
          expect(outcome).toEqual({ ok: true, policy: expected });
        }
      }),
      RUNS,
    );
  });

  it('hostile values never widen a policy: same shape, wildcards only from the template, allow-listed fills', () => {
    fc.assert(
      fc.property(templateArb, identityArb, renderOptionsArb, (template, identity, options) => {
        const outcome = attempt(template, identity, options);
        if (!outcome.ok) {
          expect(outcome.error).toBeInstanceOf(PolicyTemplateError);
          return;
        }
        const { policy } = outcome;
        expect(policyDocumentSchema.parse(policy)).toEqual(policy);
        expect(JSON.parse(JSON.stringify(policy))).toEqual(policy);
        const groupCount = new Set(options.groups).size;
        forEachLeafPair(template, policy, groupCount, (templateLeaf, renderedLeaf) => {
          expect(wildcards(renderedLeaf)).toBe(wildcards(templateLeaf.replace(/\$\{[^}]*\}/g, '')));
          expect(renderedLeaf).not.toContain('${');
          expect(renderedLeaf).toMatch(leafPattern(templateLeaf, options.maxValueLength));
        });
      }),
      RUNS,
    );
  });

  it('a username with * or ? never renders, wherever it is used', () => {
    fc.assert(
      fc.property(
        templateArb,
        identityArb,
        fc.tuple(
          fc.string({ maxLength: 8 }),
          fc.constantFrom('*', '?', '\uff0a', '\uff1f'),
          fc.string({ maxLength: 8 }),
        ),
        (template, identity, [before, wildcard, after]) => {
          const hostile = { ...identity, username: before + wildcard + after };
          const uses = JSON.stringify(template).includes('${fed:username}');
          const outcome = attempt(template, hostile, { maxValueLength: 128, groups: ['g'] });
          if (uses) expect(outcome.ok).toBe(false);
          // Unused, it changes nothing: the same outcome as with a harmless username.
          else
            expect(outcome.ok).toBe(
              attempt(template, { ...identity, username: 'harmless' }, { maxValueLength: 128, groups: ['g'] })
                .ok,
            );
        },
      ),
      RUNS,
    );
  });

  it('arbitrary template text never crashes the renderer: a policy or a PolicyTemplateError', () => {
    const anyLeaf = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
      fc
        .array(
          fc.constantFrom(
            '${',
            '}',
            'fed:',
            'oidc:',
            'saml:',
            'username',
            'group',
            'team',
            '$',
            '{',
            'x',
            '*',
          ),
          {
            minLength: 1,
            maxLength: 8,
          },
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(anyLeaf, identityArb, renderOptionsArb, (resource, identity, options) => {
        const template: PolicyDocument = {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'reports:Get', Resource: resource }],
        };
        const outcome = attempt(template, identity, options);
        if (!outcome.ok) expect(outcome.error).toBeInstanceOf(PolicyTemplateError);
        else expect(JSON.stringify(outcome.policy)).not.toContain('${');
      }),
      RUNS,
    );
  });

  it('error messages never echo a long hostile value', () => {
    fc.assert(
      fc.property(hostileValue, (username) => {
        const outcome = attempt(
          {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'a:b', Resource: 'r/${fed:username}' }],
          },
          {
            protocol: 'oidc',
            idp: 'corp',
            issuer: 'i',
            subject: 's',
            username,
            groups: [],
            attributes: {},
            authTime: 0,
          },
          { maxValueLength: 128, groups: [] },
        );
        if (outcome.ok) return;
        const message = (outcome.error as Error).message;
        expect(message.length).toBeLessThan(200);
        if (username.length > 16) expect(message).not.toContain(username);
      }),
      RUNS,
    );
  });
});
