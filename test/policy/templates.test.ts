import { describe, expect, it } from 'vitest';
import { AccessDeniedError } from '../../src/errors.js';
import type { PolicyDocument } from '../../src/policy/document.js';
import {
  checkPolicyTemplate,
  PolicyTemplateError,
  renderPolicyTemplate,
} from '../../src/policy/templates.js';
import { oidcIdentity, samlIdentity } from './fixtures.js';

const options = { maxValueLength: 128, groups: ['engineers'] };

/** A one-statement policy whose Resource is `resource`. */
function withResource(resource: string | string[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: resource }],
  };
}

function firstStatement(policy: PolicyDocument) {
  const statement = Array.isArray(policy.Statement) ? policy.Statement[0] : policy.Statement;
  if (statement === undefined) throw new Error('no statement');
  return statement;
}

function renderError(run: () => unknown): PolicyTemplateError {
  try {
    run();
  } catch (error) {
    if (error instanceof PolicyTemplateError) return error;
    throw error;
  }
  throw new Error('expected a PolicyTemplateError');
}

describe('renderPolicyTemplate: each variable', () => {
  it.each([
    ['${fed:username}', oidcIdentity(), 'arn:aws:s3:::home/alice/*'],
    ['${fed:sub}', oidcIdentity({ subject: 'u-42' }), 'arn:aws:s3:::home/u-42/*'],
    ['${fed:email}', oidcIdentity(), 'arn:aws:s3:::home/alice@corp.example/*'],
    ['${fed:idp}', oidcIdentity(), 'arn:aws:s3:::home/corp/*'],
    ['${oidc:team}', oidcIdentity(), 'arn:aws:s3:::home/payments/*'],
    ['${saml:department}', samlIdentity(), 'arn:aws:s3:::home/finance/*'],
  ])('fills %s into a Resource', (variable, identity, expected) => {
    const policy = renderPolicyTemplate(withResource(`arn:aws:s3:::home/${variable}/*`), identity, options);
    expect(firstStatement(policy).Resource).toBe(expected);
  });

  it('fills several variables in one leaf', () => {
    const policy = renderPolicyTemplate(
      withResource('arn:aws:s3:::${fed:idp}/${fed:username}/${fed:sub}'),
      oidcIdentity(),
      options,
    );
    expect(firstStatement(policy).Resource).toBe('arn:aws:s3:::corp/alice/sub-0001');
  });

  it('fills a SAML attribute named by a URI', () => {
    const identity = samlIdentity({
      attributes: { 'http://schemas.xmlsoap.org/claims/CostCenter': 'cc-17' },
    });
    const policy = renderPolicyTemplate(
      withResource('arn:aws:s3:::cc/${saml:http://schemas.xmlsoap.org/claims/CostCenter}/*'),
      identity,
      options,
    );
    expect(firstStatement(policy).Resource).toBe('arn:aws:s3:::cc/cc-17/*');
  });

  it('accepts a one-element list as a single value', () => {
    const identity = oidcIdentity({ attributes: { team: ['payments'] } });
    const policy = renderPolicyTemplate(withResource('arn:aws:s3:::t/${oidc:team}'), identity, options);
    expect(firstStatement(policy).Resource).toBe('arn:aws:s3:::t/payments');
  });

  it('fills a Condition value and leaves numbers and booleans alone', () => {
    const template: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'reports:Get',
          Resource: '*',
          Condition: {
            StringEquals: { 'reports:owner': '${fed:username}' },
            NumericLessThan: { 'reports:size': 10 },
            Bool: { 'aws:SecureTransport': true },
          },
        },
      ],
    };
    const statement = firstStatement(renderPolicyTemplate(template, oidcIdentity(), options));
    expect(statement.Condition).toEqual({
      StringEquals: { 'reports:owner': 'alice' },
      NumericLessThan: { 'reports:size': 10 },
      Bool: { 'aws:SecureTransport': true },
    });
  });

  it('returns a template without variables unchanged and never mutates the template', () => {
    const template = withResource(['arn:aws:s3:::a/${fed:username}', 'arn:aws:s3:::b/*']);
    const before = structuredClone(template);
    renderPolicyTemplate(template, oidcIdentity(), options);
    expect(template).toEqual(before);
    const plain = withResource('arn:aws:s3:::b/*');
    expect(renderPolicyTemplate(plain, oidcIdentity(), options)).toEqual(plain);
  });

  it('keeps a lone $ or brace as literal text', () => {
    const policy = renderPolicyTemplate(withResource('arn:aws:s3:::a/$x/{y}/}'), oidcIdentity(), options);
    expect(firstStatement(policy).Resource).toBe('arn:aws:s3:::a/$x/{y}/}');
  });
});

describe('renderPolicyTemplate: ${fed:group}', () => {
  it('turns a scalar leaf into one string per granting group', () => {
    const policy = renderPolicyTemplate(
      withResource('arn:aws:reports:::team/${fed:group}/*'),
      oidcIdentity(),
      {
        maxValueLength: 128,
        groups: ['engineers', 'sre'],
      },
    );
    expect(firstStatement(policy).Resource).toEqual([
      'arn:aws:reports:::team/engineers/*',
      'arn:aws:reports:::team/sre/*',
    ]);
  });

  it('makes a scalar an array even for one group', () => {
    const policy = renderPolicyTemplate(withResource('team/${fed:group}'), oidcIdentity(), options);
    expect(firstStatement(policy).Resource).toEqual(['team/engineers']);
  });

  it('replaces an array element by its expansions in place', () => {
    const policy = renderPolicyTemplate(
      withResource(['first', 'team/${fed:group}', 'last']),
      oidcIdentity(),
      {
        maxValueLength: 128,
        groups: ['a', 'b'],
      },
    );
    expect(firstStatement(policy).Resource).toEqual(['first', 'team/a', 'team/b', 'last']);
  });

  it('drops duplicate groups', () => {
    const policy = renderPolicyTemplate(withResource('team/${fed:group}'), oidcIdentity(), {
      maxValueLength: 128,
      groups: ['a', 'b', 'a'],
    });
    expect(firstStatement(policy).Resource).toEqual(['team/a', 'team/b']);
  });

  it('puts the same group in every ${fed:group} of one leaf (no cross product)', () => {
    const policy = renderPolicyTemplate(
      withResource('${fed:group}/${fed:username}/${fed:group}'),
      oidcIdentity(),
      {
        maxValueLength: 128,
        groups: ['a', 'b'],
      },
    );
    expect(firstStatement(policy).Resource).toEqual(['a/alice/a', 'b/alice/b']);
  });

  it('fails when no group granted the role', () => {
    const error = renderError(() =>
      renderPolicyTemplate(withResource('team/${fed:group}'), oidcIdentity(), {
        maxValueLength: 128,
        groups: [],
      }),
    );
    expect(error.variable).toBe('${fed:group}');
    expect(error.message).toContain('no group');
  });

  it('fails when one granting group is not an allowed value', () => {
    const error = renderError(() =>
      renderPolicyTemplate(withResource('team/${fed:group}'), oidcIdentity(), {
        maxValueLength: 128,
        groups: ['ok', 'app-*-admins'],
      }),
    );
    expect(error.variable).toBe('${fed:group}');
  });

  it('fails when the expansion lands where a list is not allowed (Id)', () => {
    const template: PolicyDocument = { ...withResource('x'), Id: 'policy-${fed:group}' };
    const error = renderError(() => renderPolicyTemplate(template, oidcIdentity(), options));
    expect(error.message).toContain('not a valid policy document');
    expect(error.location).toBe('Id');
  });
});

describe('renderPolicyTemplate: missing and misused values', () => {
  it.each([
    ['${fed:email} without an e-mail', '${fed:email}', oidcIdentity({ email: undefined })],
    ['${oidc:...} for a SAML identity', '${oidc:team}', samlIdentity({ attributes: { team: 'x' } })],
    [
      '${saml:...} for an OIDC identity',
      '${saml:department}',
      oidcIdentity({ attributes: { department: 'x' } }),
    ],
    ['an attribute the identity does not have', '${oidc:missing}', oidcIdentity()],
    [
      'a multi-valued attribute where one value is expected',
      '${oidc:team}',
      oidcIdentity({ attributes: { team: ['a', 'b'] } }),
    ],
    ['an empty list attribute', '${oidc:team}', oidcIdentity({ attributes: { team: [] } })],
    ['an inherited property name (constructor)', '${oidc:constructor}', oidcIdentity()],
    ['an inherited property name (toString)', '${oidc:toString}', oidcIdentity()],
    ['a __proto__ claim', '${oidc:__proto__}', oidcIdentity()],
  ])('refuses %s', (_case, variable, identity) => {
    const error = renderError(() => renderPolicyTemplate(withResource(`x/${variable}`), identity, options));
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
  });

  it('never fills a variable from an attribute the identity only inherits', () => {
    // A valid value of the right shape, on the prototype of the attributes record instead of on it.
    const attributes = Object.create({ team: ['payments'] }) as Record<string, string | string[]>;
    expect(attributes.team).toEqual(['payments']);
    const error = renderError(() =>
      renderPolicyTemplate(withResource('x/${saml:team}'), samlIdentity({ attributes }), options),
    );
    expect(error.variable).toBe('${saml:team}');
    expect(error.message).toBe(
      'policy template variable ${saml:team} at Statement[0].Resource: has no value for this identity',
    );
  });
});

describe('renderPolicyTemplate: template syntax', () => {
  it.each([
    ['an unknown fed variable', 'x/${fed:nope}'],
    ["AWS's own variables", 'x/${aws:username}'],
    ["AWS's ${*} escape", 'x/${*}'],
    ['an empty variable', 'x/${}'],
    ['a variable without a source', 'x/${username}'],
    ['an unterminated variable', 'x/${fed:username'],
    ['a nested variable', 'x/${fed:${fed:username}}'],
    ['an attribute name with a space', 'x/${oidc:a b}'],
    ['an attribute name with a wildcard', 'x/${oidc:a*}'],
    ['an upper-case source', 'x/${FED:username}'],
  ])('refuses %s', (_case, resource) => {
    const template = withResource(resource);
    expect(() => renderPolicyTemplate(template, oidcIdentity(), options)).toThrow(PolicyTemplateError);
    expect(() => checkPolicyTemplate(template)).toThrow(PolicyTemplateError);
  });

  it('refuses a variable in an object key instead of leaving it literal', () => {
    const template: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'reports:Get',
          Resource: '*',
          Condition: { StringEquals: { 'reports:${fed:username}': 'yes' } },
        },
      ],
    };
    expect(() => renderPolicyTemplate(template, oidcIdentity(), options)).toThrow(/not allowed in keys/);
    expect(() => checkPolicyTemplate(template)).toThrow(/not allowed in keys/);
  });

  it('accepts every known variable in checkPolicyTemplate', () => {
    expect(() =>
      checkPolicyTemplate(
        withResource([
          '${fed:username}',
          '${fed:sub}',
          '${fed:email}',
          '${fed:idp}',
          '${fed:group}',
          '${saml:urn:oid:1.3.6.1.4.1.5923.1.1.1.7}',
          '${oidc:team}',
        ]),
      ),
    ).not.toThrow();
  });
});

describe('renderPolicyTemplate: hostile identity values', () => {
  const render = (username: string, maxValueLength = 128) =>
    renderPolicyTemplate(withResource('arn:aws:s3:::home/${fed:username}/*'), oidcIdentity({ username }), {
      maxValueLength,
      groups: [],
    });

  it.each([
    ['a username with * never widens a Resource', '*'],
    ['a username ending in * never widens a Resource', 'alice*'],
    ['a username with ? never widens a Resource', 'al?ce'],
    ['a username holding a variable is never expanded again', '${fed:sub}'],
    ["a username holding AWS's ${*} escape is refused", '${*}'],
    ['a username with a double quote never breaks the JSON', 'a"b'],
    ['a username with a single quote is refused', "o'brien"],
    ['a username with a backslash is refused', 'a\\b'],
    ['a username with ../ never escapes its path segment', '../bob'],
    ['a username of .. is refused', '..'],
    ['a username of . is refused', '.'],
    ['a username containing .. is refused', 'a..b'],
    ['a username with / never adds a path segment', 'alice/private'],
    ['a username with : never shifts an ARN field', 'x:y'],
    ['a username with NUL is refused', 'a\u0000b'],
    ['a username with a newline is refused', 'a\nb'],
    ['a username with DEL is refused', 'a\u007fb'],
    ['a username with a full-width asterisk is refused', 'a\uff0a'],
    ['a username with a full-width solidus is refused', 'a\uff0fb'],
    ['a username with a Cyrillic look-alike is refused', '\u0430lice'],
    ['a username with a space is refused', 'alice smith'],
    ['a username with a zero-width space is refused', 'ali\u200bce'],
    ['a username with an emoji is refused', 'alice\u{1f600}'],
    ['an empty username is refused', ''],
    ['a 10 kB username is refused', 'a'.repeat(10_240)],
  ])('%s', (_case, username) => {
    const error = renderError(() => render(username));
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.status).toBe(403);
    expect(error.code).toBe('AccessDenied');
    expect(error.variable).toBe('${fed:username}');
    expect(error.message).toContain('${fed:username}');
    // The value is never echoed (beyond what the template itself says).
    if (username.length > 2) expect(error.message).not.toContain(username);
    expect(error.message.length).toBeLessThan(200);
  });

  it.each([['alice'], ['a.b+c@example.com'], ['first_last'], ['a=b,c-d'], ['ALICE99'], ['.hidden'], ['a.']])(
    'accepts the allowed value %j',
    (username) => {
      expect(firstStatement(render(username)).Resource).toBe(`arn:aws:s3:::home/${username}/*`);
    },
  );

  it('accepts a value of exactly maxValueLength and refuses one character more', () => {
    expect(firstStatement(render('a'.repeat(16), 16)).Resource).toBe(`arn:aws:s3:::home/${'a'.repeat(16)}/*`);
    expect(renderError(() => render('a'.repeat(17), 16)).message).toContain('longer than 16');
  });

  it('a hostile value in an unused variable does not matter', () => {
    const policy = renderPolicyTemplate(
      withResource('arn:aws:s3:::home/${fed:username}/*'),
      oidcIdentity({ subject: '*', email: '../*' }),
      options,
    );
    expect(firstStatement(policy).Resource).toBe('arn:aws:s3:::home/alice/*');
  });
});
