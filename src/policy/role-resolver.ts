import type { Identity } from '../auth/identity.js';
import type { MappingConfig, RoleConfig } from '../config/schema.js';
import { buildGrant, type GrantRequest } from './grants.js';
import { resolveGrants, selectRole } from './mappings.js';
import type { Grant, RoleChoice } from './types.js';

/**
 * The roles and mappings in force, and the two questions every entry point asks of them: which roles
 * may this identity take (and why), and what exactly does it get for one of them.
 */
export class RoleResolver {
  constructor(
    private readonly roles: readonly RoleConfig[],
    private readonly mappings: readonly MappingConfig[],
    private readonly options: { maxValueLength: number },
  ) {}

  rolesFor(identity: Identity): RoleChoice[] {
    return resolveGrants(identity, this.roles, this.mappings);
  }

  /** The grant for one role; AccessDeniedError when the identity does not map to it, ValidationError for a bad request. */
  grantFor(identity: Identity, roleName: string, request: GrantRequest): Grant {
    return buildGrant(selectRole(this.rolesFor(identity), roleName), identity, request, this.options);
  }
}
