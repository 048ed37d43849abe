import type { Identity } from '../auth/identity.js';
import type { MappingConfig, RoleConfig } from '../config/schema.js';
import { AccessDeniedError } from '../errors.js';
import { compileGlob, matchesGlob, type GlobMatcher } from './glob.js';
import type { GrantReason, RoleChoice } from './types.js';

/**
 * Group-to-role mappings: which roles an identity may take, and why.
 *
 * A mapping `{ idp?, group | groupPattern, roles[] }` grants its roles to every identity that has a
 * matching group and, when `idp` is set, comes from that IdP. Group names are compared exactly
 * (case-sensitive, no normalisation): `Admins` and `admins` are different groups, as the IdP says.
 */

/**
 * Glob match over whole group names: `*` any run of characters, `?` one character (see glob.ts: the
 * same ReDoS-free matcher policies use, never a RegExp built from configuration text).
 */
export function matchesGroupPattern(pattern: string, group: string): boolean {
  return matchesGlob(pattern, group);
}

/**
 * Each mapping's pattern compiled once, not once per group on every request (mapping objects are the
 * catalog's snapshot, replaced whole on a change; the pattern text is compared all the same).
 */
const compiledPatterns = new WeakMap<MappingConfig, { pattern: string; matches: GlobMatcher }>();

function mappingMatches(mapping: MappingConfig, group: string): boolean {
  if (mapping.group !== undefined) return mapping.group === group;
  const pattern = mapping.groupPattern;
  if (pattern === undefined) return false;
  let compiled = compiledPatterns.get(mapping);
  if (compiled?.pattern !== pattern) {
    compiled = { pattern, matches: compileGlob(pattern) };
    compiledPatterns.set(mapping, compiled);
  }
  return compiled.matches(group);
}

/**
 * Every role the identity may take, each with every (mapping, group) pair that grants it.
 *
 * Order is deterministic: roles in configured order; within a role, reasons by mapping index, then by the
 * order of the identity's groups. A mapping that names a role twice, or an identity that lists a group
 * twice, still yields one reason per (mapping, group). Empty group names never match anything (not even
 * `*`): they name no group and could only produce an empty `${fed:group}`. Roles named by a mapping but
 * absent from `roles` are ignored (config validation reports them).
 */
export function resolveGrants(
  identity: Pick<Identity, 'idp' | 'groups'>,
  roles: readonly RoleConfig[],
  mappings: readonly MappingConfig[],
): RoleChoice[] {
  const groups = [...new Set(identity.groups)].filter((g) => g !== '');
  const choices: RoleChoice[] = [];
  for (const role of roles) {
    const reasons: GrantReason[] = [];
    mappings.forEach((mapping, mappingIndex) => {
      if (!mapping.roles.includes(role.name)) return;
      if (mapping.idp !== undefined && mapping.idp !== identity.idp) return;
      for (const group of groups)
        if (mappingMatches(mapping, group)) reasons.push({ mappingIndex, mapping, group });
    });
    if (reasons.length > 0) choices.push({ role, reasons });
  }
  return choices;
}

/** AWS's name charset, as roles are named (`roleSchema.name`): safe to repeat in a message. */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

/**
 * The choice for a requested role, or `AccessDeniedError` ("not mapped to role X"). The same answer for a
 * role that does not exist and one the identity does not map to, so callers cannot probe which roles
 * exist. The requested name is repeated only when it is a well-formed role name.
 */
export function selectRole(choices: readonly RoleChoice[], roleName: string): RoleChoice {
  const choice = choices.find((c) => c.role.name === roleName);
  if (choice !== undefined) return choice;
  throw new AccessDeniedError(
    ROLE_NAME.test(roleName) ? `not mapped to role ${roleName}` : 'not mapped to the requested role',
  );
}
