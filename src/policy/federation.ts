import type { ServiceAccountConfig } from '../config/schema.js';
import { ValidationError } from '../errors.js';
import type { PolicyDocument } from './document.js';
import { validateDuration, validateSessionPolicy } from './grants.js';
import type { Grant } from './types.js';

/**
 * GetFederationToken's grant: the federated user may do what both the service account's policy and the
 * policy passed allow (the passed policy is the session policy, so it can only narrow). As at AWS, a
 * call that passes no policy gets a session with no permissions.
 */
export const NO_PERMISSIONS: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'NoSessionPolicyPassed', Effect: 'Deny', Action: '*', Resource: '*' }],
};

const FEDERATED_NAME = /^[\w+=,.@-]{2,32}$/;

export function federationRoleName(account: Pick<ServiceAccountConfig, 'name'>): string {
  return `federation:${account.name}`;
}

export function buildFederationGrant(
  account: ServiceAccountConfig,
  request: { name: unknown; durationSeconds?: unknown; sessionPolicy?: unknown },
): Grant {
  if (typeof request.name !== 'string' || !FEDERATED_NAME.test(request.name)) {
    throw new ValidationError(
      "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must be 2 to 32 characters of [\\w+=,.@-]",
    );
  }
  const role = {
    name: federationRoleName(account),
    description: `Federated users of service account ${account.name}`,
    policy: account.policy,
    maxSessionDuration: account.maxSessionDuration,
    // AWS's GetFederationToken default is 12 hours; here it is the account's maximum.
    defaultSessionDuration: account.maxSessionDuration,
  };
  return {
    role,
    policy: account.policy,
    sessionPolicy: validateSessionPolicy(request.sessionPolicy) ?? NO_PERMISSIONS,
    durationSeconds: validateDuration(role, request.durationSeconds),
    sessionName: request.name,
    reasons: [],
  };
}
