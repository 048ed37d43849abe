import type { Identity } from '../auth/identity.js';
import { buildGrant, type GrantRequest } from './grants.js';
import { resolveGrants, selectRole } from './mappings.js';
import type { RoleSource } from './role-catalog.js';
import type { Grant, RoleChoice } from './types.js';

export interface RoleResolverOptions {
  maxValueLength: number;
}

/**
 * The roles and mappings in force, and the two questions every entry point asks of them: which roles
 * may this identity take (and why), and what exactly does it get for one of them.
 *
 * Built over a `RoleSource` (the `RoleCatalog`), it reads the source's current snapshot on every call, so
 * an admin change applies to the next request.
 */
export class RoleResolver {
  constructor(
    private readonly source: RoleSource,
    private readonly options: RoleResolverOptions,
  ) {}

  rolesFor(identity: Identity): RoleChoice[] {
    return resolveGrants(identity, this.source.roles(), this.source.mappings());
  }

  /** The grant for one role; AccessDeniedError when the identity does not map to it, ValidationError for a bad request. */
  grantFor(identity: Identity, roleName: string, request: GrantRequest): Grant {
    return buildGrant(selectRole(this.rolesFor(identity), roleName), identity, request, this.options);
  }
}
