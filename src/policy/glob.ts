/**
 * IAM wildcard matching over whole strings: `*` matches any run of characters (also none, and also `:` and
 * `/`), `?` exactly one character (one Unicode code point); every other character matches itself. There
 * is no escape syntax, and `$` is literal (policy variables are not supported here). Matching is
 * case-sensitive; callers that need case-insensitive matching (actions) lower-case both sides.
 *
 * No RegExp is ever built from policy text. The matcher is the two-pointer algorithm with one backtrack
 * point (the last `*` seen): O(pattern × text) time in the worst case and constant extra space, so a
 * pattern such as `*a*a*a*a*b` cannot blow up the way a backtracking regex would.
 */

/** A compiled pattern: call it with the text to test. */
export type GlobMatcher = (text: string) => boolean;

/** True when the string holds a UTF-16 surrogate, i.e. its code units are not its code points. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** The string's characters as code points; the string itself when units and code points coincide. */
function codePoints(text: string): ArrayLike<string> {
  return SURROGATE.test(text) ? Array.from(text) : text;
}

/** The matching loop over characters (code points). */
function matchCharacters(pattern: ArrayLike<string>, text: ArrayLike<string>): boolean {
  let pi = 0;
  let ti = 0;
  let starPi = -1; // index of the last `*` seen in the pattern
  let starTi = 0; // where in the text that `*` currently stops
  while (ti < text.length) {
    const pc = pi < pattern.length ? pattern[pi] : undefined;
    if (pc === '*') {
      starPi = pi++;
      starTi = ti;
    } else if (pc !== undefined && (pc === '?' || pc === text[ti])) {
      pi++;
      ti++;
    } else if (starPi !== -1) {
      // Let the last `*` swallow one more character and retry from just after it.
      pi = starPi + 1;
      ti = ++starTi;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

/**
 * Compiles a pattern once, choosing the cheapest test that is exact for it: `*` alone, a literal, a
 * literal prefix followed by one trailing `*`, or the general matcher.
 */
export function compileGlob(pattern: string): GlobMatcher {
  const hasStar = pattern.includes('*');
  const hasQuestion = pattern.includes('?');
  if (!hasStar && !hasQuestion) return (text) => text === pattern;
  if (!hasQuestion && /^\*+$/.test(pattern)) return () => true;
  // A literal prefix then one `*`. Only without surrogates: otherwise the prefix could end in half of a
  // pair that the text holds whole, which a code-point match must refuse.
  const prefix = pattern.slice(0, -1);
  if (!hasQuestion && pattern.indexOf('*') === prefix.length && !SURROGATE.test(prefix))
    return (text) => text.startsWith(prefix);
  const chars = codePoints(pattern);
  return (text) => matchCharacters(chars, codePoints(text));
}

/** One-off match; prefer `compileGlob` for a pattern that is tested more than once. */
export function matchesGlob(pattern: string, text: string): boolean {
  return compileGlob(pattern)(text);
}
