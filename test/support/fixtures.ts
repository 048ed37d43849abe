import type { Identity } from '../../src/auth/identity.js';
import type { RoleConfig } from '../../src/config/schema.js';
import type { Grant } from '../../src/policy/types.js';

export function demoIdentity(overrides: Partial<Identity> = {}): Identity {
  return {
    idp: 'corp',
    protocol: 'oidc',
    issuer: 'https://login.corp.example',
    subject: 'user-1234',
    username: 'alice',
    email: 'alice@corp.example',
    groups: ['engineers'],
    attributes: {},
    authTime: Date.UTC(2026, 0, 1),
    ...overrides,
  };
}

export function demoRole(overrides: Partial<RoleConfig> = {}): RoleConfig {
  return {
    name: 'reports-reader',
    description: 'Read reports',
    maxSessionDuration: 3600,
    policy: {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['reports:Get*'], Resource: ['arn:aws:reports:::team/engineers/*'] },
      ],
    },
    ...overrides,
  };
}

export function demoGrant(overrides: Partial<Grant> = {}): Grant {
  const role = overrides.role ?? demoRole();
  return {
    role,
    policy: role.policy,
    durationSeconds: 900,
    sessionName: 'alice',
    reasons: [],
    ...overrides,
  };
}
