import type { Identity } from '../auth/identity.js';
import type { MappingConfig, RoleConfig } from '../config/schema.js';
import { AppError } from '../errors.js';
import { buildGrant } from './grants.js';
import { resolveGrants } from './mappings.js';
import type { PolicyDocument } from './types.js';

/** A role the identity may take: what gives it, and what it would get with default request values. */
export interface GrantedRoleExplanation {
  role: string;
  /** Every (mapping, group) pair that gives the role, by mapping index in the mapping list. */
  grantedBy: { mappingIndex: number; group: string }[];
  /** The role policy rendered for the identity; absent when rendering failed (see `renderError`). */
  policy?: PolicyDocument;
  durationSeconds?: number;
  /** Why the policy cannot be rendered for this identity (minting would answer 403 with it). */
  renderError?: string;
}

/** A role asked about that the identity may not take, and every reason why not. */
export interface DeniedRoleExplanation {
  role: string;
  reasons: string[];
}

export interface RoleExplanation {
  granted: GrantedRoleExplanation[];
  denied: DeniedRoleExplanation[];
}

/**
 * "Why does this identity get this role, and why not that one?" over the given roles and mappings.
 * `granted` lists every role the identity may take (or, when `asked` is given, those of the asked ones),
 * each rendered with `buildGrant` and default request values. `denied` explains each asked role it may
 * not take. Read-only; the same resolution the credential endpoints use.
 */
export function explainRoles(
  identity: Identity,
  roles: readonly RoleConfig[],
  mappings: readonly MappingConfig[],
  options: { maxValueLength: number; asked?: readonly string[] },
): RoleExplanation {
  const choices = resolveGrants(identity, roles, mappings);
  const asked = options.asked === undefined ? undefined : [...new Set(options.asked)];
  const granted = choices
    .filter((choice) => asked === undefined || asked.includes(choice.role.name))
    .map((choice): GrantedRoleExplanation => {
      const grantedBy = choice.reasons.map(({ mappingIndex, group }) => ({ mappingIndex, group }));
      try {
        const grant = buildGrant(choice, identity, {}, { maxValueLength: options.maxValueLength });
        return {
          role: choice.role.name,
          grantedBy,
          policy: grant.policy,
          durationSeconds: grant.durationSeconds,
        };
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        return { role: choice.role.name, grantedBy, renderError: error.message };
      }
    });
  const denied = (asked ?? [])
    .filter((name) => !choices.some((choice) => choice.role.name === name))
    .map((name) => ({ role: name, reasons: whyNot(identity, name, roles, mappings) }));
  return { granted, denied };
}

function whyNot(
  identity: Identity,
  roleName: string,
  roles: readonly RoleConfig[],
  mappings: readonly MappingConfig[],
): string[] {
  if (!roles.some((role) => role.name === roleName)) return [`no role named "${roleName}" exists`];
  const reasons: string[] = [];
  mappings.forEach((mapping, index) => {
    if (!mapping.roles.includes(roleName)) return;
    const groupText =
      mapping.group !== undefined ? `group "${mapping.group}"` : `groups matching "${mapping.groupPattern}"`;
    if (mapping.idp !== undefined && mapping.idp !== identity.idp)
      reasons.push(`mapping ${index} (${groupText}) is for idp "${mapping.idp}", not "${identity.idp}"`);
    else reasons.push(`mapping ${index} gives this role to ${groupText}, which the identity is not in`);
  });
  if (reasons.length === 0) reasons.push('no mapping gives this role to any group');
  reasons.push(
    identity.groups.length === 0
      ? 'the identity has no groups'
      : `no mapping gives ${identity.groups.length === 1 ? 'group' : 'groups'} ${identity.groups.map((g) => `"${g}"`).join(', ')} this role`,
  );
  return reasons;
}
