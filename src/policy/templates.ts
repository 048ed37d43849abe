import type { Identity } from '../auth/identity.js';
import { BoundedMap } from '../bounded-map.js';
import type { z } from 'zod';
import { AccessDeniedError } from '../errors.js';
import { policyDocumentSchema, type PolicyDocument } from './document.js';

/**
 * Policy templates: a role's policy with `${...}` variables filled in per identity.
 *
 * Contract:
 * - Substitution happens on the parsed JSON's string leaves (values), never on object keys and never on
 *   serialized text, so no value can add a statement, a key, a quote or an array element.
 * - Every `${` in a template starts a variable: `${fed:username}`, `${fed:sub}`, `${fed:email}`,
 *   `${fed:idp}`, `${fed:group}`, `${saml:<attribute>}`, `${oidc:<claim>}`. Anything else after `${`
 *   (AWS's own `${aws:...}` variables and `${*}`-style escapes included) is an error, so there is no escape
 *   syntax to get wrong and a substituted value can never be re-read as a variable (substitution is also a
 *   single pass over the template text; output is never scanned again).
 * - `${fed:group}` is multi-valued: a string leaf that contains it renders to one string per group that
 *   granted the role (`options.groups`, duplicates dropped, order kept). Inside an array the element is
 *   replaced by its expansions; a scalar leaf becomes an array (always, even for one group, so the shape
 *   does not depend on how many groups a user has). Several `${fed:group}` in one leaf take the same group
 *   (one string per group, not a cross product). No group at all is an error.
 * - Every substituted value is checked (see `checkValue`); any unknown variable, missing value or rejected
 *   value makes the whole render fail with `PolicyTemplateError`: a policy is never rendered partially or
 *   with a value dropped.
 * - The result is re-validated with `policyDocumentSchema`; a template whose rendered form is not a valid
 *   policy (e.g. `${fed:group}` in `Id`, which cannot hold a list) fails the same way.
 */

/**
 * A template could not be rendered for this identity (403, audited by the caller). The message names the
 * variable and the reason but never contains the value: it is attacker-influenced and may be 10 kB long.
 */
export class PolicyTemplateError extends AccessDeniedError {
  /** The variable as written in the template (`${fed:username}`), when one is at fault. */
  readonly variable: string | undefined;
  /** Where in the template, e.g. `Statement[0].Resource[1]`. */
  readonly location: string | undefined;

  constructor(message: string, details: { variable?: string; location?: string } = {}) {
    super(message);
    this.variable = details.variable;
    this.location = details.location;
  }
}

export interface RenderOptions {
  /** Longest value substituted for one variable (`templates.maxValueLength`). */
  maxValueLength: number;
  /** The groups that granted the role: the values of `${fed:group}`. */
  groups: readonly string[];
}

type FedVariable = 'username' | 'sub' | 'email' | 'idp' | 'group';

type TemplateVariable =
  | { source: 'fed'; name: FedVariable; text: string }
  | { source: 'saml' | 'oidc'; name: string; text: string };

type Segment = { text: string; variable?: undefined } | { text?: undefined; variable: TemplateVariable };

const FED_VARIABLES: ReadonlySet<string> = new Set<FedVariable>(['username', 'sub', 'email', 'idp', 'group']);

/**
 * Attribute and claim names after `saml:` / `oidc:`: URI-ish ASCII (SAML attribute names are often URLs or
 * `urn:oid:...`), without `$`, braces, quotes, backslash, whitespace or wildcards.
 */
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.:/#~%+=,@-]{1,256}$/;

/**
 * The allow-list for substituted values: ASCII letters, digits and `_ . @ + = , -`, i.e. AWS's own character
 * set for IAM user, role and session names (`[\w+=,.@-]`), which is what identity values stand in for.
 * Deliberately not allowed:
 * - `*` `?`: IAM wildcards; a value must never widen a Resource, Action or Condition.
 * - `$` `{` `}`: could form a new variable (`${*}`, `${aws:...}`) for a later evaluator.
 * - `/` and `:`: ARN path and field separators; a value must stay inside its path segment or ARN field.
 * - quotes, backslash, control characters: never needed, and they confuse whatever serializes the policy.
 * - space: not part of AWS names, and leading/trailing or doubled spaces yield resources that look identical
 *   but differ; use `${fed:username}` rather than a display name.
 * - anything non-ASCII: full-width `＊` or `／` and other look-alikes may be normalised (NFKC) into the real
 *   character by some later component; ASCII-only sidesteps every normalisation question.
 * `.` and `..` (and any value containing `..`) are refused on top, as path-traversal segments.
 */
const ALLOWED_VALUE = /^[A-Za-z0-9_.@+=,-]+$/;

/** Shows a piece of template text in a message: short, quoted, escaped. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

function parseVariable(inner: string, location: string): TemplateVariable {
  const text = '${' + inner + '}';
  const colon = inner.indexOf(':');
  const source = colon === -1 ? '' : inner.slice(0, colon);
  const name = colon === -1 ? '' : inner.slice(colon + 1);
  if (source === 'fed' && FED_VARIABLES.has(name)) return { source, name: name as FedVariable, text };
  if ((source === 'saml' || source === 'oidc') && ATTRIBUTE_NAME.test(name)) return { source, name, text };
  throw new PolicyTemplateError(`unknown policy template variable ${quote(text)} at ${location}`, {
    location,
  });
}

/** Splits one string leaf into literal text and variables. Every `${` must open a known variable. */
/**
 * Template strings already parsed: a role's policy is rendered on every mint from the same few strings.
 * Only successful parses are kept, and a parse does not depend on where the string stands.
 */
const parsedStrings = new BoundedMap<readonly Segment[]>(1024);

function parsedTemplateString(leaf: string, location: string): readonly Segment[] {
  const cached = parsedStrings.get(leaf);
  if (cached !== undefined) return cached;
  const segments = parseTemplateString(leaf, location);
  parsedStrings.set(leaf, segments);
  return segments;
}

function parseTemplateString(leaf: string, location: string): Segment[] {
  const segments: Segment[] = [];
  let pos = 0;
  for (;;) {
    const open = leaf.indexOf('${', pos);
    if (open === -1) {
      if (pos < leaf.length) segments.push({ text: leaf.slice(pos) });
      return segments;
    }
    if (open > pos) segments.push({ text: leaf.slice(pos, open) });
    const close = leaf.indexOf('}', open + 2);
    if (close === -1)
      throw new PolicyTemplateError(
        `unterminated policy template variable ${quote(leaf.slice(open))} at ${location}`,
        { location },
      );
    segments.push({ variable: parseVariable(leaf.slice(open + 2, close), location) });
    pos = close + 1;
  }
}

/** Keys are never substituted, so a `${` in one would silently stay literal: refuse it instead. */
function checkKey(key: string, location: string): void {
  if (key.includes('${'))
    throw new PolicyTemplateError(`policy template variables are not allowed in keys (at ${location})`, {
      location,
    });
}

/** Why a value is refused, or undefined when it may be substituted. */
function rejectionReason(value: string, maxValueLength: number): string | undefined {
  // Length first, so a 10 kB value costs nothing more.
  if (value.length === 0) return 'the value is empty';
  if (value.length > maxValueLength) return `the value is longer than ${maxValueLength} characters`;
  if (!ALLOWED_VALUE.test(value)) return 'the value contains a character that is not allowed';
  if (value === '.' || value.includes('..')) return 'the value is or contains a dot segment';
  return undefined;
}

function variableError(variable: TemplateVariable, location: string, reason: string): PolicyTemplateError {
  return new PolicyTemplateError(`policy template variable ${variable.text} at ${location}: ${reason}`, {
    variable: variable.text,
    location,
  });
}

function checkValue(value: string, variable: TemplateVariable, location: string, max: number): string {
  const reason = rejectionReason(value, max);
  if (reason !== undefined) throw variableError(variable, location, reason);
  return value;
}

/** A renderer bound to one identity; resolves single-valued variables and the group list. */
class Renderer {
  private groups: string[] | undefined;

  constructor(
    private readonly identity: Identity,
    private readonly options: RenderOptions,
  ) {}

  private fail(variable: TemplateVariable, location: string, reason: string): never {
    throw variableError(variable, location, reason);
  }

  /** The one value of a single-valued variable, checked. */
  private single(variable: TemplateVariable, location: string): string {
    let value: unknown;
    if (variable.source === 'fed') {
      switch (variable.name) {
        case 'username':
          value = this.identity.username;
          break;
        case 'sub':
          value = this.identity.subject;
          break;
        case 'email':
          value = this.identity.email;
          break;
        case 'idp':
          value = this.identity.idp;
          break;
        case 'group':
          // Handled by expansion; reaching here is a bug in renderLeaf.
          return this.fail(variable, location, 'is multi-valued');
      }
    } else {
      if (this.identity.protocol !== variable.source)
        this.fail(variable, location, `is only available for ${variable.source.toUpperCase()} identities`);
      // Own properties only: `${oidc:constructor}` must not reach Object.prototype.
      const attributes = this.identity.attributes;
      value = Object.hasOwn(attributes, variable.name) ? attributes[variable.name] : undefined;
      if (Array.isArray(value)) {
        // A one-element list is one value; more than one cannot go where one string is expected.
        if (value.length > 1) this.fail(variable, location, 'is multi-valued where one value is expected');
        value = value[0];
      }
    }
    if (typeof value !== 'string') return this.fail(variable, location, 'has no value for this identity');
    return checkValue(value, variable, location, this.options.maxValueLength);
  }

  /** The values of `${fed:group}`: the granting groups, duplicates dropped, each checked; never empty. */
  private groupValues(variable: TemplateVariable, location: string): string[] {
    if (this.groups === undefined) {
      const unique = [...new Set(this.options.groups)];
      if (unique.length === 0) this.fail(variable, location, 'no group granted this role');
      this.groups = unique.map((g) => checkValue(g, variable, location, this.options.maxValueLength));
    }
    return this.groups;
  }

  /** One string leaf → its rendered strings; `expanded` when `${fed:group}` made it multi-valued. */
  private leaf(leaf: string, location: string): { values: string[]; expanded: boolean } {
    if (!leaf.includes('${')) return { values: [leaf], expanded: false };
    const segments = parsedTemplateString(leaf, location);
    let groupVariable: TemplateVariable | undefined;
    // Literal text and single-valued variables resolved once; `null` marks a `${fed:group}` slot.
    const parts = segments.map((s): string | null => {
      if (s.variable === undefined) return s.text;
      if (s.variable.source === 'fed' && s.variable.name === 'group') {
        groupVariable = s.variable;
        return null;
      }
      return this.single(s.variable, location);
    });
    if (groupVariable === undefined) return { values: [parts.join('')], expanded: false };
    const values = this.groupValues(groupVariable, location).map((group) =>
      parts.map((part) => part ?? group).join(''),
    );
    return { values, expanded: true };
  }

  value(value: unknown, location: string): unknown {
    if (typeof value === 'string') {
      const rendered = this.leaf(value, location);
      return rendered.expanded ? rendered.values : rendered.values[0];
    }
    if (Array.isArray(value))
      return value.flatMap((element: unknown, i) =>
        typeof element === 'string'
          ? this.leaf(element, `${location}[${i}]`).values
          : [this.value(element, `${location}[${i}]`)],
      );
    if (typeof value === 'object' && value !== null) {
      // Object.fromEntries defines own properties, so even a `__proto__` key stays plain data.
      return Object.fromEntries(
        Object.entries(value).map(([key, child]) => {
          const childLocation = location === '' ? key : `${location}.${key}`;
          checkKey(key, childLocation);
          return [key, this.value(child, childLocation)];
        }),
      );
    }
    return value;
  }
}

/**
 * Renders a role's policy template for one identity. Pure; throws `PolicyTemplateError` (403) when any
 * variable cannot be filled safely, and never returns a policy that is not a valid policy document.
 */
export function renderPolicyTemplate(
  template: PolicyDocument,
  identity: Identity,
  options: RenderOptions,
): PolicyDocument {
  const rendered = new Renderer(identity, options).value(template, '');
  const parsed = policyDocumentSchema.safeParse(rendered);
  if (!parsed.success) {
    const { path } = policyProblem(parsed.error);
    throw new PolicyTemplateError(
      `the rendered policy is not a valid policy document${path === '' ? '' : ` (at ${path})`}`,
      path === '' ? {} : { location: path },
    );
  }
  return parsed.data;
}

/**
 * Checks a template without an identity: every `${` opens a known variable and no key holds one. For
 * config and admin-API validation, so a template that can never render is refused when it is written
 * rather than on every sign-in. Throws `PolicyTemplateError`.
 */
export function checkPolicyTemplate(template: PolicyDocument): void {
  const visit = (value: unknown, location: string): void => {
    if (typeof value === 'string') {
      if (value.includes('${')) parseTemplateString(value, location);
    } else if (Array.isArray(value)) {
      value.forEach((element: unknown, i) => visit(element, `${location}[${i}]`));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        const childLocation = location === '' ? key : `${location}.${key}`;
        checkKey(key, childLocation);
        visit(child, childLocation);
      }
    }
  };
  visit(template, '');
}

/** `['Statement', 0, 'Resource']` → `Statement[0].Resource`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/**
 * The most specific problem in a failed `policyDocumentSchema` parse, as a path (`Statement[0].Effect`) and
 * zod's message. `Statement` is a union (one statement or a list), so zod often reports only "Invalid
 * input" at `Statement`; this descends into the union branch whose problem lies deepest.
 */
export function policyProblem(error: z.ZodError): { path: string; message: string } {
  const deepest = (issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } => {
    let best = { path: issue.path, message: issue.message };
    if (issue.code === 'invalid_union')
      for (const branch of issue.errors) {
        const first = branch[0];
        if (first === undefined) continue;
        const inner = deepest(first);
        if (inner.path.length > 0 && issue.path.length + inner.path.length > best.path.length)
          best = { path: [...issue.path, ...inner.path], message: inner.message };
      }
    return best;
  };
  const first = error.issues[0];
  if (first === undefined) return { path: '', message: 'invalid' };
  const { path, message } = deepest(first);
  return { path: formatPath(path), message };
}
