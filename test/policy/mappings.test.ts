import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessDeniedError } from '../../src/errors.js';
import { matchesGroupPattern, resolveGrants, selectRole } from '../../src/policy/mappings.js';
import { mapping, oidcIdentity, role, samlIdentity } from './fixtures.js';

const roles = [role({ name: 'reports-reader' }), role({ name: 'reports-admin' }), role({ name: 'billing' })];

/** The (role, mappingIndex, group) triples, in order: what the tables below compare. */
function triples(choices: ReturnType<typeof resolveGrants>): string[] {
  return choices.flatMap((c) => c.reasons.map((r) => `${c.role.name} <- #${r.mappingIndex} ${r.group}`));
}

describe('resolveGrants', () => {
  it.each([
    {
      case: 'an exact group grants its roles',
      identity: oidcIdentity({ groups: ['engineers'] }),
      mappings: [mapping({ group: 'engineers', roles: ['reports-reader'] })],
      expected: ['reports-reader <- #0 engineers'],
    },
    {
      case: 'exact match is case-sensitive',
      identity: oidcIdentity({ groups: ['Engineers'] }),
      mappings: [mapping({ group: 'engineers', roles: ['reports-reader'] })],
      expected: [],
    },
    {
      case: 'exact match is not a prefix or substring match',
      identity: oidcIdentity({ groups: ['engineers-old', 'xengineers'] }),
      mappings: [mapping({ group: 'engineers', roles: ['reports-reader'] })],
      expected: [],
    },
    {
      case: 'a pattern matches with * over any run',
      identity: samlIdentity({ groups: ['app-billing-admins', 'app--admins', 'app-billing-users'] }),
      mappings: [mapping({ groupPattern: 'app-*-admins', roles: ['reports-admin'] })],
      expected: ['reports-admin <- #0 app-billing-admins', 'reports-admin <- #0 app--admins'],
    },
    {
      case: 'a pattern matches with ? over exactly one character',
      identity: oidcIdentity({ groups: ['team-a', 'team-ab', 'team-'] }),
      mappings: [mapping({ groupPattern: 'team-?', roles: ['reports-reader'] })],
      expected: ['reports-reader <- #0 team-a'],
    },
    {
      case: 'a pattern without wildcards is an exact match',
      identity: oidcIdentity({ groups: ['ops', 'ops2'] }),
      mappings: [mapping({ groupPattern: 'ops', roles: ['billing'] })],
      expected: ['billing <- #0 ops'],
    },
    {
      case: 'regex metacharacters in a pattern are literal',
      identity: oidcIdentity({ groups: ['a.b', 'axb', 'a+', 'aa', '(x)', 'x'] }),
      mappings: [
        mapping({ groupPattern: 'a.b', roles: ['reports-reader'] }),
        mapping({ groupPattern: 'a+', roles: ['reports-admin'] }),
        mapping({ groupPattern: '(x)', roles: ['billing'] }),
      ],
      expected: ['reports-reader <- #0 a.b', 'reports-admin <- #1 a+', 'billing <- #2 (x)'],
    },
    {
      case: 'a mapping restricted to an idp ignores other idps',
      identity: oidcIdentity({ idp: 'corp', groups: ['app-billing-admins'] }),
      mappings: [mapping({ idp: 'adfs', groupPattern: 'app-*-admins', roles: ['reports-admin'] })],
      expected: [],
    },
    {
      case: 'a mapping restricted to an idp applies to that idp',
      identity: samlIdentity({ idp: 'adfs', groups: ['app-billing-admins'] }),
      mappings: [mapping({ idp: 'adfs', groupPattern: 'app-*-admins', roles: ['reports-admin'] })],
      expected: ['reports-admin <- #0 app-billing-admins'],
    },
    {
      case: 'every mapping and group that grants a role is a reason',
      identity: oidcIdentity({ groups: ['engineers', 'team-a', 'team-b'] }),
      mappings: [
        mapping({ groupPattern: 'team-*', roles: ['reports-reader'] }),
        mapping({ group: 'nobody', roles: ['reports-reader'] }),
        mapping({ group: 'engineers', roles: ['reports-reader', 'billing'] }),
      ],
      expected: [
        'reports-reader <- #0 team-a',
        'reports-reader <- #0 team-b',
        'reports-reader <- #2 engineers',
        'billing <- #2 engineers',
      ],
    },
    {
      case: 'roles come in configured order, whatever the mapping order',
      identity: oidcIdentity({ groups: ['g'] }),
      mappings: [
        mapping({ group: 'g', roles: ['billing'] }),
        mapping({ group: 'g', roles: ['reports-admin', 'reports-reader'] }),
      ],
      expected: ['reports-reader <- #1 g', 'reports-admin <- #1 g', 'billing <- #0 g'],
    },
    {
      case: 'a repeated group or role name yields one reason',
      identity: oidcIdentity({ groups: ['g', 'g'] }),
      mappings: [mapping({ group: 'g', roles: ['billing', 'billing'] })],
      expected: ['billing <- #0 g'],
    },
    {
      case: 'no group matches: no roles',
      identity: oidcIdentity({ groups: ['visitors'] }),
      mappings: [mapping({ group: 'engineers', roles: ['reports-reader'] })],
      expected: [],
    },
    {
      case: 'no groups at all: no roles, even for *',
      identity: oidcIdentity({ groups: [] }),
      mappings: [mapping({ groupPattern: '*', roles: ['reports-reader'] })],
      expected: [],
    },
    {
      case: 'an empty group name never matches, even *',
      identity: oidcIdentity({ groups: [''] }),
      mappings: [mapping({ groupPattern: '*', roles: ['reports-reader'] })],
      expected: [],
    },
    {
      case: 'a mapping naming an unknown role is ignored',
      identity: oidcIdentity({ groups: ['g'] }),
      mappings: [mapping({ group: 'g', roles: ['no-such-role', 'billing'] })],
      expected: ['billing <- #0 g'],
    },
  ])('$case', ({ identity, mappings, expected }) => {
    expect(triples(resolveGrants(identity, roles, mappings))).toEqual(expected);
  });

  it('returns the configured role and mapping objects', () => {
    const m = mapping({ group: 'engineers', roles: ['billing'] });
    const [choice] = resolveGrants(oidcIdentity(), roles, [m]);
    expect(choice?.role).toBe(roles[2]);
    expect(choice?.reasons[0]?.mapping).toBe(m);
  });
});

describe('matchesGroupPattern', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything', true],
    ['**', 'x', true],
    ['a*', 'a', true],
    ['*a', 'ba', true],
    ['*a', 'ab', false],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['?', '', false],
    ['?', 'é', true],
    ['?', '\u{1f600}', true],
    ['??', '\u{1f600}', false],
    ['a?c', 'abc', true],
    ['', '', true],
    ['', 'a', false],
    ['app-*-admins', 'app-x-admins-not', false],
  ])('%j matches %j: %s', (pattern, group, expected) => {
    expect(matchesGroupPattern(pattern, group)).toBe(expected);
  });

  it('agrees with a correctly escaped reference regex', () => {
    const char = fc.constantFrom('a', 'b', '.', '*', '?', '+', '(', '\\', '$', 'é');
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '+', '(', '\\', '$', 'é'), maxLength: 12 });
    fc.assert(
      fc.property(fc.string({ unit: char, maxLength: 8 }), text, (pattern, group) => {
        const source = Array.from(pattern)
          .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('');
        expect(matchesGroupPattern(pattern, group)).toBe(new RegExp(`^${source}$`, 'su').test(group));
      }),
      { numRuns: 1000 },
    );
  });

  it('a pathological pattern against a long group stays fast (no ReDoS)', () => {
    const started = performance.now();
    expect(matchesGroupPattern('*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(20_000))).toBe(false);
    expect(matchesGroupPattern('?'.repeat(50) + '*b', 'a'.repeat(20_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('selectRole', () => {
  const choices = resolveGrants(oidcIdentity({ groups: ['engineers'] }), roles, [
    mapping({ group: 'engineers', roles: ['reports-reader'] }),
  ]);

  it('returns the choice for a mapped role', () => {
    expect(selectRole(choices, 'reports-reader').role.name).toBe('reports-reader');
  });

  it.each([
    ['a role that exists but is not mapped', 'billing'],
    ['a role that does not exist', 'no-such-role'],
  ])('denies %s with the same answer', (_case, name) => {
    expect(() => selectRole(choices, name)).toThrow(AccessDeniedError);
    expect(() => selectRole(choices, name)).toThrow(`not mapped to role ${name}`);
  });

  it('does not echo a malformed role name', () => {
    const hostile = '<script>' + 'x'.repeat(5000);
    expect(() => selectRole(choices, hostile)).toThrow('not mapped to the requested role');
  });
});
