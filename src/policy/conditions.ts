import { compileGlob, type GlobMatcher } from './glob.js';

/**
 * IAM `Condition` blocks: compiled once per policy, then tested against a request context.
 *
 * Semantics (AWS's, except where noted):
 * - Operators in one block, and keys under one operator, are ANDed; the values listed for one key are
 *   ORed: the condition holds when the context value matches any of them. A negated operator
 *   (`StringNotEquals`, `NumericNotEquals`, `DateNotEquals`, `StringNotLike`, `NotIpAddress`, `ArnNotEquals`,
 *   `ArnNotLike`, `StringNotEqualsIgnoreCase`) is the negation of its positive form: it holds when the
 *   context value matches none of the listed values.
 * - Condition keys are case-insensitive (`aws:SourceIp` = `AWS:SOURCEIP`); values are case-sensitive
 *   unless the operator says otherwise (`...IgnoreCase`).
 * - A key that is absent from the context (no entry, `undefined`, or an empty list) makes a positive
 *   operator false and a negated operator true, as AWS documents ("if the policy condition requires that
 *   the key is not matched ... and the key is not present, the condition is true"). `...IfExists` makes
 *   any operator true for an absent key. `Null` tests presence only: `true` holds when the key is absent.
 * - `ForAllValues:` holds when every context value matches (and when the key is absent or empty);
 *   `ForAnyValue:` holds when at least one does (false when the key is absent, unless `...IfExists`).
 * - Without a set qualifier, a multi-valued context key (a list) is fedproxy's extension: a positive
 *   operator holds when some value matches, a negated one when none does (the exact negation, so a
 *   `Deny` with `StringNotEquals` cannot be sidestepped by sending a list). AWS asks for a set qualifier
 *   there; use one.
 * - Policy variables (`${aws:username}`) are not expanded: `$` is literal. fedproxy renders its own
 *   templates before a policy is evaluated.
 *
 * A condition that cannot be compiled (unknown operator, a value that is not a number for a Numeric
 * operator, a malformed CIDR, ...) is reported as a problem; the statement holding it never applies.
 * `validatePolicyForEvaluation` surfaces these problems so such a policy is refused before it is stored.
 */

/** One scalar value in a request context. */
export type ContextScalar = string | number | boolean;
/** A request context value: a scalar, a list (a multi-valued key), or `undefined` (absent). */
export type ContextValue = ContextScalar | ContextScalar[] | undefined;
/** The request context: condition key -> value. Keys are matched case-insensitively. */
export type RequestContext = Record<string, ContextValue>;
/** A request context as conditions read it: lower-cased key -> its non-empty list of values. */
export type NormalizedContext = ReadonlyMap<string, readonly ContextScalar[]>;

/** A policy condition value, as `policyDocumentSchema` admits it. */
type PolicyScalar = string | number | boolean;

/** Something in a policy that the evaluator cannot evaluate as written. */
export interface PolicyProblem {
  /** Where, in the style of `Statement[0].Condition.StringEquals.aws:username[1]`. */
  path: string;
  message: string;
}

/** A compiled condition: one operator applied to one key. */
export interface CompiledCondition {
  holds(context: NormalizedContext): boolean;
}

function isScalar(value: unknown): value is ContextScalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * Lower-cases the keys and drops absent values (`undefined`, empty lists). Keys that differ only in case
 * are merged into one multi-valued key. Defensive about input that bypassed the types (JSON `null`,
 * nested objects): anything that is not a string, number or boolean is dropped, so evaluation never
 * throws on it.
 */
export function normalizeContext(context: RequestContext): NormalizedContext {
  const normalized = new Map<string, ContextScalar[]>();
  for (const [key, value] of Object.entries(context ?? {})) {
    const values = (Array.isArray(value) ? (value as unknown[]) : [value]).filter(isScalar);
    if (values.length === 0) continue;
    const name = key.toLowerCase();
    const existing = normalized.get(name);
    if (existing === undefined) normalized.set(name, values);
    else existing.push(...values);
  }
  return normalized;
}

// ---- value families ----------------------------------------------------------------------------------

/**
 * How one family of operators reads values: a policy value is parsed once at compile time (undefined:
 * not a valid value, reported as `expected`), a context value at evaluation (undefined: never matches).
 */
interface Family<P, C> {
  expected: string;
  policy(value: PolicyScalar): P | undefined;
  context(value: ContextScalar): C | undefined;
}

const strings: Family<string, string> = {
  expected: 'a string',
  policy: (value) => String(value),
  context: (value) => String(value),
};

const stringsIgnoringCase: Family<string, string> = {
  expected: 'a string',
  policy: (value) => String(value).toLowerCase(),
  context: (value) => String(value).toLowerCase(),
};

const stringPatterns: Family<GlobMatcher, string> = {
  expected: 'a string',
  policy: (value) => compileGlob(String(value)),
  context: (value) => String(value),
};

/** Decimal numbers as JSON writes them; no hex, no `Infinity`, no blanks (which `Number()` would accept). */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseNumber(value: ContextScalar): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || !DECIMAL.test(value)) return undefined;
  const number = Number(value);
  return Number.isFinite(number) ? number : undefined;
}

const numbers: Family<number, number> = {
  expected: 'a number',
  policy: parseNumber,
  context: parseNumber,
};

/**
 * ISO 8601 date-times: a date (`2025-01-31`, midnight UTC), or a date and time with seconds optional, a
 * fraction of a second optional, and a zone required (`Z`, `+02:00` or `+0200`): a time without a zone
 * would silently depend on the server's time zone. Field ranges are checked (no `2025-02-30`, no hour 24).
 */
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2})))?$/;
/** Epoch seconds as text, as `aws:EpochTime` is written. */
const EPOCH_SECONDS = /^\d{1,15}$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

/** Milliseconds since the epoch for a date value (ISO 8601, or epoch seconds as a number or digits). */
function parseDate(value: ContextScalar): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  if (EPOCH_SECONDS.test(value)) return Number(value) * 1000;
  const m = ISO_DATE.exec(value);
  if (m === null) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  let offset = 0;
  if (m[9] !== undefined) {
    const [offsetHours, offsetMinutes] = [Number(m[10]), Number(m[11])];
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offset = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  // setUTCFullYear, because Date.UTC maps the years 0..99 to 1900..1999.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime() - offset;
}

const dates: Family<number, number> = {
  expected: 'a date (ISO 8601 with a zone, or epoch seconds)',
  policy: parseDate,
  context: parseDate,
};

function parseBool(value: ContextScalar): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

const booleans: Family<boolean, boolean> = {
  expected: 'true or false',
  policy: parseBool,
  context: parseBool,
};

// ---- IP addresses ------------------------------------------------------------------------------------

/** An address as a 32- or 128-bit number. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count as IPv4. */
interface IpAddress {
  v6: boolean;
  value: bigint;
}

interface IpRange extends IpAddress {
  mask: bigint;
}

const OCTET = /^(?:0|[1-9]\d{0,2})$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Leading zeros are refused: some parsers read `010` as octal.
    if (!OCTET.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

/** The 16-bit groups of one side of `::`; a dotted IPv4 tail is allowed only where `allowIpv4` says. */
function ipv6Groups(text: string, allowIpv4: boolean): bigint[] | undefined {
  if (text === '') return [];
  const groups: bigint[] = [];
  const parts = text.split(':');
  for (const [i, part] of parts.entries()) {
    if (allowIpv4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else if (HEXTET.test(part)) {
      groups.push(BigInt(`0x${part}`));
    } else {
      return undefined;
    }
  }
  return groups;
}

/** RFC 4291 text forms: eight groups, or fewer around one `::`, optionally ending in dotted IPv4. No zone. */
function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const [head, tail] = [halves[0] ?? '', halves[1]];
  const headGroups = ipv6Groups(head, tail === undefined);
  const tailGroups = tail === undefined ? [] : ipv6Groups(tail, true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  const given = headGroups.length + tailGroups.length;
  if (tail === undefined ? given !== 8 : given > 7) return undefined;
  const groups = [...headGroups, ...Array<bigint>(8 - given).fill(0n), ...tailGroups];
  return groups.reduce((value, group) => (value << 16n) | group, 0n);
}

function isIpv4Mapped(value: bigint): boolean {
  return value >> 32n === 0xffffn;
}

function parseIpAddress(text: string): IpAddress | undefined {
  if (!text.includes(':')) {
    const value = parseIpv4(text);
    return value === undefined ? undefined : { v6: false, value };
  }
  const value = parseIpv6(text);
  if (value === undefined) return undefined;
  return isIpv4Mapped(value) ? { v6: false, value: value & 0xffffffffn } : { v6: true, value };
}

/**
 * A CIDR range (`10.0.0.0/8`, `2001:db8::/32`) or one address (a /32 or /128). Host bits below the
 * prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6 range of /96 or longer is the
 * IPv4 range it maps; shorter IPv6 ranges (even `::/0`) never contain IPv4 addresses.
 */
function parseIpRange(text: string): IpRange | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (prefixText !== undefined && !OCTET.test(prefixText)) return undefined;
  let v6 = address.includes(':');
  let value = v6 ? parseIpv6(address) : parseIpv4(address);
  if (value === undefined) return undefined;
  let bits = v6 ? 128 : 32;
  let prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  if (v6 && isIpv4Mapped(value) && prefix >= 96) {
    [v6, value, bits, prefix] = [false, value & 0xffffffffn, 32, prefix - 96];
  }
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { v6, value: value & mask, mask };
}

const ipAddresses: Family<IpRange, IpAddress> = {
  expected: 'an IP address or CIDR range',
  policy: (value) => (typeof value === 'string' ? parseIpRange(value) : undefined),
  context: (value) => (typeof value === 'string' ? parseIpAddress(value) : undefined),
};

function inRange(address: IpAddress, range: IpRange): boolean {
  return address.v6 === range.v6 && (address.value & range.mask) === range.value;
}

// ---- ARNs --------------------------------------------------------------------------------------------

/**
 * The six components of an ARN, `arn:partition:service:region:account:resource`: split at the first
 * five colons, so the resource part keeps any further colons. Undefined when there are fewer than six.
 */
function arnParts(text: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < 5; i++) {
    const colon = text.indexOf(':', start);
    if (colon === -1) return undefined;
    parts.push(text.slice(start, colon));
    start = colon + 1;
  }
  parts.push(text.slice(start));
  return parts;
}

/** Component-wise, case-sensitive: wildcards stay within their component (only the last holds colons). */
const arns: Family<GlobMatcher[], string[]> = {
  expected: 'an ARN (arn:partition:service:region:account:resource, wildcards allowed per component)',
  policy: (value) =>
    typeof value === 'string' ? arnParts(value)?.map((part) => compileGlob(part)) : undefined,
  context: (value) => (typeof value === 'string' ? arnParts(value) : undefined),
};

// ---- operators ---------------------------------------------------------------------------------------

/** A base operator, compiled against the values a policy lists for one key. */
interface Operator {
  negated: boolean;
  /** "Some listed value matches this context value" under the positive form, or the invalid value indexes. */
  compile(values: readonly PolicyScalar[]): ((value: ContextScalar) => boolean) | { invalid: number[] };
  expected: string;
}

function operator<P, C>(
  family: Family<P, C>,
  negated: boolean,
  match: (value: C, listed: P) => boolean,
): Operator {
  return {
    negated,
    expected: family.expected,
    compile(values) {
      const listed: P[] = [];
      const invalid: number[] = [];
      values.forEach((value, i) => {
        const parsed = family.policy(value);
        if (parsed === undefined) invalid.push(i);
        else listed.push(parsed);
      });
      if (invalid.length > 0) return { invalid };
      return (value) => {
        const parsed = family.context(value);
        return parsed !== undefined && listed.some((l) => match(parsed, l));
      };
    },
  };
}

const equal = <T>(a: T, b: T): boolean => a === b;
const lt = (a: number, b: number): boolean => a < b;
const le = (a: number, b: number): boolean => a <= b;
const gt = (a: number, b: number): boolean => a > b;
const ge = (a: number, b: number): boolean => a >= b;
const glob = (text: string, pattern: GlobMatcher): boolean => pattern(text);
const arnMatches = (parts: string[], patterns: GlobMatcher[]): boolean =>
  patterns.every((pattern, i) => pattern(parts[i] ?? ''));

/** Every base operator by its exact name. `Null` is handled apart (it tests presence, not values). */
const OPERATORS: ReadonlyMap<string, Operator> = new Map([
  ['StringEquals', operator(strings, false, equal)],
  ['StringNotEquals', operator(strings, true, equal)],
  ['StringEqualsIgnoreCase', operator(stringsIgnoringCase, false, equal)],
  ['StringNotEqualsIgnoreCase', operator(stringsIgnoringCase, true, equal)],
  ['StringLike', operator(stringPatterns, false, glob)],
  ['StringNotLike', operator(stringPatterns, true, glob)],
  ['NumericEquals', operator(numbers, false, equal)],
  ['NumericNotEquals', operator(numbers, true, equal)],
  ['NumericLessThan', operator(numbers, false, lt)],
  ['NumericLessThanEquals', operator(numbers, false, le)],
  ['NumericGreaterThan', operator(numbers, false, gt)],
  ['NumericGreaterThanEquals', operator(numbers, false, ge)],
  ['DateEquals', operator(dates, false, equal)],
  ['DateNotEquals', operator(dates, true, equal)],
  ['DateLessThan', operator(dates, false, lt)],
  ['DateLessThanEquals', operator(dates, false, le)],
  ['DateGreaterThan', operator(dates, false, gt)],
  ['DateGreaterThanEquals', operator(dates, false, ge)],
  ['Bool', operator(booleans, false, equal)],
  ['IpAddress', operator(ipAddresses, false, inRange)],
  ['NotIpAddress', operator(ipAddresses, true, inRange)],
  ['ArnEquals', operator(arns, false, arnMatches)],
  ['ArnLike', operator(arns, false, arnMatches)],
  ['ArnNotEquals', operator(arns, true, arnMatches)],
  ['ArnNotLike', operator(arns, true, arnMatches)],
]);

/** Every operator name (without qualifier or `IfExists`), for the case hint in `unknownOperator`. */
const OPERATOR_NAMES = [...OPERATORS.keys(), 'Null'];

type SetQualifier = 'ForAnyValue' | 'ForAllValues' | undefined;

/** `ForAllValues:StringLikeIfExists` -> qualifier, base name, IfExists. */
function splitOperator(name: string): { set: SetQualifier; base: string; ifExists: boolean } {
  let rest = name;
  let set: SetQualifier;
  for (const qualifier of ['ForAnyValue', 'ForAllValues'] as const)
    if (rest.startsWith(`${qualifier}:`)) {
      set = qualifier;
      rest = rest.slice(qualifier.length + 1);
      break;
    }
  const ifExists = rest.endsWith('IfExists') && rest !== 'IfExists';
  return { set, base: ifExists ? rest.slice(0, -'IfExists'.length) : rest, ifExists };
}

function unknownOperator(name: string, base: string): string {
  const hint = OPERATOR_NAMES.find((known) => known.toLowerCase() === base.toLowerCase());
  return `unknown condition operator ${JSON.stringify(name)}${hint === undefined ? '' : ` (operator names are case-sensitive: ${hint})`}`;
}

/** `[a, b]` or `a` as the list of listed values. */
function listed(value: PolicyScalar | readonly PolicyScalar[]): readonly PolicyScalar[] {
  return Array.isArray(value) ? value : [value as PolicyScalar];
}

/** The condition block as `policyDocumentSchema` admits it. */
export type ConditionBlock = Record<string, Record<string, PolicyScalar | PolicyScalar[]>>;

/**
 * Compiles a statement's `Condition` block. `path` locates the block in problems
 * (`Statement[0].Condition`). The statement applies only when there are no problems and every returned
 * condition holds.
 */
export function compileConditions(
  block: ConditionBlock,
  path: string,
): { conditions: CompiledCondition[]; problems: PolicyProblem[] } {
  const conditions: CompiledCondition[] = [];
  const problems: PolicyProblem[] = [];
  for (const [name, keys] of Object.entries(block)) {
    const operatorPath = `${path}.${name}`;
    const { set, base, ifExists } = splitOperator(name);
    // The schema requires a value; a document built in code may still hold an empty list.
    const empty = Object.entries(keys).filter(([, value]) => listed(value).length === 0);
    if (empty.length > 0) {
      for (const [key] of empty)
        problems.push({ path: `${operatorPath}.${key}`, message: 'no value to compare with' });
      continue;
    }
    if (base === 'Null') {
      if (set !== undefined || ifExists) {
        problems.push({
          path: operatorPath,
          message: `${name}: Null takes no set qualifier and no IfExists`,
        });
        continue;
      }
      for (const [key, value] of Object.entries(keys)) {
        const values = listed(value);
        const expectations = values.map((v) => parseBool(v));
        const bad = expectations.findIndex((e) => e === undefined);
        if (bad !== -1) {
          problems.push({
            path: valuePath(operatorPath, key, value, bad),
            message: 'Null needs true or false',
          });
          continue;
        }
        const lowerKey = key.toLowerCase();
        // `true`: the key must be absent; `false`: present. Several values are ORed like any other.
        conditions.push({ holds: (context) => expectations.includes(!context.has(lowerKey)) });
      }
      continue;
    }
    const op = OPERATORS.get(base);
    if (op === undefined) {
      problems.push({ path: operatorPath, message: unknownOperator(name, base) });
      continue;
    }
    for (const [key, value] of Object.entries(keys)) {
      const compiled = op.compile(listed(value));
      if (typeof compiled !== 'function') {
        for (const i of compiled.invalid)
          problems.push({
            path: valuePath(operatorPath, key, value, i),
            message: `${base} needs ${op.expected}, not ${JSON.stringify(listed(value)[i])}`,
          });
        continue;
      }
      conditions.push(condition(key.toLowerCase(), set, ifExists, op.negated, compiled));
    }
  }
  return { conditions, problems };
}

function valuePath(
  operatorPath: string,
  key: string,
  value: PolicyScalar | readonly PolicyScalar[],
  i: number,
): string {
  return `${operatorPath}.${key}${Array.isArray(value) ? `[${i}]` : ''}`;
}

/** The key-presence, negation and set-qualifier rules from the module comment, around one value test. */
function condition(
  key: string,
  set: SetQualifier,
  ifExists: boolean,
  negated: boolean,
  anyListedMatches: (value: ContextScalar) => boolean,
): CompiledCondition {
  const matches = (value: ContextScalar): boolean => anyListedMatches(value) !== negated;
  return {
    holds(context) {
      const values = context.get(key);
      if (values === undefined) {
        if (set === 'ForAllValues' || ifExists) return true;
        return set === undefined && negated;
      }
      if (set === 'ForAllValues') return values.every(matches);
      if (set === 'ForAnyValue') return values.some(matches);
      return negated ? !values.some(anyListedMatches) : values.some(anyListedMatches);
    },
  };
}
