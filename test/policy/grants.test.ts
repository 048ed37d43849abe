import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import type { PolicyDocument } from '../../src/policy/document.js';
import {
  buildGrant,
  validateDuration,
  validateSessionName,
  validateSessionPolicy,
} from '../../src/policy/grants.js';
import { resolveGrants, selectRole } from '../../src/policy/mappings.js';
import { PolicyTemplateError } from '../../src/policy/templates.js';
import { mapping, oidcIdentity, role } from './fixtures.js';

const options = { maxValueLength: 128 };
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('validateDuration', () => {
  const standard = role({ name: 'r', maxSessionDuration: 7200 });

  it.each([
    ['max 3600: 3600', role({ name: 'r', maxSessionDuration: 3600 }), 3600],
    ['max 43200: 3600', role({ name: 'r', maxSessionDuration: 43_200 }), 3600],
    ['max 1800: 1800', role({ name: 'r', maxSessionDuration: 1800 }), 1800],
    ['an explicit default', role({ name: 'r', maxSessionDuration: 7200, defaultSessionDuration: 900 }), 900],
  ])('defaults when not asked (%s)', (_case, r, expected) => {
    expect(validateDuration(r, undefined)).toBe(expected);
  });

  it.each([[900], [901], [3600], [7200]])('accepts %d within 900..max', (seconds) => {
    expect(validateDuration(standard, seconds)).toBe(seconds);
  });

  it.each([
    ['below the minimum', 899],
    ['zero', 0],
    ['negative', -3600],
    ['negative zero', -0],
    ['one above the role maximum', 7201],
    ['above AWS maximum', 43_201],
    ['a fraction', 900.5],
    ['a tiny fraction above an allowed value', 3600.0000001],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a huge number', 1e308],
    ['beyond the safe integers', 2 ** 60],
    ['a numeric string', '3600'],
    ['an empty string', ''],
    ['null', null],
    ['a boolean', true],
    ['an object', { seconds: 3600 }],
    ['an array', [3600]],
    ['a bigint', 3600n],
  ])('refuses %s (never clamps)', (_case, value) => {
    const error = validationError(() => validateDuration(standard, value));
    expect(error.status).toBe(400);
    expect(error.code).toBe('ValidationError');
  });

  it('says which bound was crossed', () => {
    expect(() => validateDuration(standard, 899)).toThrow(/greater than or equal to 900/);
    expect(() => validateDuration(standard, 7201)).toThrow(/exceeds the MaxSessionDuration/);
  });

  it('any input either is refused or is granted exactly, within bounds', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.double(), fc.integer({ min: -100_000, max: 100_000 })),
        (value) => {
          let granted: number;
          try {
            granted = validateDuration(standard, value);
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            return;
          }
          if (value !== undefined) expect(granted).toBe(value);
          expect(Number.isInteger(granted)).toBe(true);
          expect(granted).toBeGreaterThanOrEqual(900);
          expect(granted).toBeLessThanOrEqual(7200);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('validateSessionName', () => {
  const alice = { username: 'alice' };

  it.each([['ab'], ['a'.repeat(64)], ['alice@corp.example'], ['a_b+c=d,e.f-g'], ['CI-job-42']])(
    'accepts the given name %j as is',
    (name) => {
      expect(validateSessionName(name, alice)).toBe(name);
    },
  );

  it.each([
    ['one character', 'a'],
    ['an empty string', ''],
    ['65 characters', 'a'.repeat(65)],
    ['a space', 'a b'],
    ['a slash', 'a/b'],
    ['a colon', 'a:b'],
    ['a wildcard', 'a*'],
    ['non-ASCII letters', 'émile'],
    ['full-width letters', '\uff41\uff42'],
    ['a NUL', 'ab\u0000'],
    ['a number', 42],
    ['null', null],
    ['an array', ['ab']],
  ])('refuses a given name with %s (never repairs it)', (_case, name) => {
    expect(() => validateSessionName(name, alice)).toThrow(ValidationError);
  });

  it.each([
    ['alice', 'alice'],
    ['alice@corp.example', 'alice@corp.example'],
    ['Jane Doe', 'Jane-Doe'],
    ['émile', '-mile'],
    ['a', 'a-'],
    ['', '--'],
    ['\u{1f600}', '--'],
    ['dom\\user', 'dom-user'],
    ['x'.repeat(100), 'x'.repeat(64)],
  ])('derives a default from the username %j', (username, expected) => {
    expect(validateSessionName(undefined, { username })).toBe(expected);
  });

  it('a default derived from any username is a valid session name', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.string({ unit: 'grapheme', maxLength: 100 }),
        ),
        (username) => {
          expect(validateSessionName(undefined, { username })).toMatch(SESSION_NAME);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a given name is either refused or returned unchanged and valid', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^[\w+=,.@-]{0,66}$/)), (name) => {
        let result: string;
        try {
          result = validateSessionName(name, alice);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
          expect(name).not.toMatch(SESSION_NAME);
          return;
        }
        expect(result).toBe(name);
        expect(result).toMatch(SESSION_NAME);
      }),
      { numRuns: 500 },
    );
  });
});

describe('validateSessionPolicy', () => {
  const narrow = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'reports:GetReport', Resource: 'arn:aws:reports:::team/a/1' }],
  };

  it('returns undefined when none is given', () => {
    expect(validateSessionPolicy(undefined)).toBeUndefined();
  });

  it('accepts an object', () => {
    expect(validateSessionPolicy(narrow)).toEqual(narrow);
  });

  it('accepts JSON text, as STS sends it', () => {
    expect(validateSessionPolicy(JSON.stringify(narrow))).toEqual(narrow);
  });

  it('fills in the default Version', () => {
    expect(validateSessionPolicy({ Statement: narrow.Statement })?.Version).toBe('2012-10-17');
  });

  it('takes template variables in a session policy literally', () => {
    const literal = {
      Statement: [{ Effect: 'Allow', Action: 'reports:Get', Resource: 'arn:aws:reports:::${fed:username}' }],
    };
    const policy = validateSessionPolicy(literal);
    expect(JSON.stringify(policy)).toContain('${fed:username}');
  });

  /** `narrow` padded (through Sid) to exactly `length` characters of compact JSON. */
  function paddedTo(length: number): PolicyDocument {
    const base = JSON.stringify({ ...narrow, Statement: [{ Sid: '', ...narrow.Statement[0] }] }).length;
    return {
      ...narrow,
      Statement: [{ Sid: 'S'.repeat(length - base), ...narrow.Statement[0] }],
    } as PolicyDocument;
  }

  it('accepts exactly 2048 characters and refuses 2049, as text and as an object', () => {
    expect(JSON.stringify(paddedTo(2048))).toHaveLength(2048);
    expect(validateSessionPolicy(JSON.stringify(paddedTo(2048)))).toBeDefined();
    expect(validateSessionPolicy(paddedTo(2048))).toBeDefined();
    expect(() => validateSessionPolicy(JSON.stringify(paddedTo(2049)))).toThrow(/longer than 2048/);
    expect(() => validateSessionPolicy(paddedTo(2049))).toThrow(/longer than 2048/);
  });

  it('refuses a 1 MB policy text before parsing it', () => {
    expect(() => validateSessionPolicy('{' + ' '.repeat(1_000_000))).toThrow(/longer than 2048/);
  });

  it.each([
    ['a misspelt Effect', { Statement: [{ ...narrow.Statement[0], Effect: 'Alow' }] }, 'Statement[0].Effect'],
    ['an unknown key', { Statement: [{ ...narrow.Statement[0], Resources: 'x' }] }, 'Statement[0]'],
    ['no Resource', { Statement: [{ Effect: 'Allow', Action: 'a:b' }] }, 'Statement[0]'],
    [
      'a malformed single statement',
      { Statement: { Effect: 'Maybe', Action: 'a:b', Resource: 'r' } },
      'Statement.Effect',
    ],
    ['an empty statement list', { Statement: [] }, 'Statement'],
    [
      'a malformed condition',
      { Statement: [{ ...narrow.Statement[0], Condition: { StringEquals: { k: {} } } }] },
      'Statement[0].Condition.StringEquals.k',
    ],
    ['a Principal', { Statement: [{ ...narrow.Statement[0], Principal: '*' }] }, 'Statement[0]'],
    ['an unknown Version', { ...narrow, Version: '2020-01-01' }, 'Version'],
  ])('refuses %s and names the path', (_case, document, path) => {
    for (const form of [document, JSON.stringify(document)]) {
      const error = validationError(() => validateSessionPolicy(form));
      expect(error.message).toContain(`at ${path}`);
    }
  });

  it.each([
    ['text that is not JSON', '{"Statement": ['],
    ['JSON that is not an object', '[1, 2]'],
    ['JSON null', 'null'],
    ['a number', 42],
    ['null', null],
    ['a boolean', false],
    ['an array', [narrow]],
    ['an empty string', ''],
  ])('refuses %s', (_case, value) => {
    expect(() => validateSessionPolicy(value)).toThrow(ValidationError);
  });
});

describe('buildGrant', () => {
  const reader = role({
    name: 'reports-reader',
    maxSessionDuration: 7200,
    policy: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['reports:Get*'],
          Resource: ['arn:aws:reports:::team/${fed:group}/*', 'arn:aws:reports:::user/${fed:username}/*'],
        },
      ],
    },
  });
  const mappings = [
    mapping({ group: 'engineers', roles: ['reports-reader'] }),
    mapping({ groupPattern: 'team-*', roles: ['reports-reader'] }),
  ];
  const identity = oidcIdentity({ username: 'alice', groups: ['team-a', 'engineers', 'unrelated'] });
  const choice = selectRole(resolveGrants(identity, [reader], mappings), 'reports-reader');

  it('renders the policy with the granting groups only and fills in defaults', () => {
    const grant = buildGrant(choice, identity, {}, options);
    expect(grant).toEqual({
      role: reader,
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['reports:Get*'],
            Resource: [
              'arn:aws:reports:::team/engineers/*',
              'arn:aws:reports:::team/team-a/*',
              'arn:aws:reports:::user/alice/*',
            ],
          },
        ],
      },
      durationSeconds: 3600,
      sessionName: 'alice',
      reasons: choice.reasons,
    });
    expect('sessionPolicy' in grant).toBe(false);
  });

  it('carries the requested duration, session name and session policy', () => {
    const sessionPolicy = {
      Statement: [
        { Effect: 'Allow', Action: 'reports:GetReport', Resource: 'arn:aws:reports:::team/team-a/1' },
      ],
    };
    const grant = buildGrant(
      choice,
      identity,
      { durationSeconds: 900, sessionName: 'ci-run-7', sessionPolicy: JSON.stringify(sessionPolicy) },
      options,
    );
    expect(grant.durationSeconds).toBe(900);
    expect(grant.sessionName).toBe('ci-run-7');
    expect(grant.sessionPolicy).toEqual({ Version: '2012-10-17', ...sessionPolicy });
  });

  it('a username with * never widens the granted Resource', () => {
    const hostile = { ...identity, username: '*' };
    expect(() => buildGrant(choice, hostile, {}, options)).toThrow(PolicyTemplateError);
  });

  it('a request error is reported before a template error', () => {
    const hostile = { ...identity, username: '*' };
    expect(() => buildGrant(choice, hostile, { durationSeconds: 10 }, options)).toThrow(ValidationError);
  });

  it('applies maxValueLength from the options', () => {
    const long = { ...identity, username: 'a'.repeat(20) };
    expect(() => buildGrant(choice, long, {}, { maxValueLength: 19 })).toThrow(/longer than 19/);
    expect(buildGrant(choice, long, {}, { maxValueLength: 20 }).policy).toBeDefined();
  });
});
