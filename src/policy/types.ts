import type { RoleConfig, MappingConfig } from '../config/schema.js';
import type { PolicyDocument } from './document.js';

export type { PolicyDocument, PolicyStatement } from './document.js';

/** Why an identity may take a role: the mapping (by position in the mapping list) and the group that matched. */
export interface GrantReason {
  mappingIndex: number;
  mapping: MappingConfig;
  group: string;
}

/** A role an identity may take, with every reason it may. Produced by `resolveGrants`. */
export interface RoleChoice {
  role: RoleConfig;
  reasons: GrantReason[];
}

/**
 * Everything credentials/ needs to mint for one identity and role: the policy rendered for this identity,
 * the optional session policy that narrows it, and the validated duration. Produced by `buildGrant`.
 */
export interface Grant {
  role: RoleConfig;
  /** The role's policy template rendered for the identity. */
  policy: PolicyDocument;
  /** A caller-supplied policy; the effective permissions are the intersection with `policy`. */
  sessionPolicy?: PolicyDocument;
  durationSeconds: number;
  /** 2–64 characters of [\w+=,.@-]; appears in the assumed-role ARN. */
  sessionName: string;
  reasons: GrantReason[];
}
