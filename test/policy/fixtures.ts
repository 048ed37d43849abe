import type { Identity } from '../../src/auth/identity.js';
import { mappingSchema, roleSchema, type MappingConfig, type RoleConfig } from '../../src/config/schema.js';
import type { z } from 'zod';

/** An OIDC identity from IdP `corp`; override any field. */
export function oidcIdentity(overrides: Partial<Identity> = {}): Identity {
  return {
    idp: 'corp',
    protocol: 'oidc',
    issuer: 'https://login.corp.example',
    subject: 'sub-0001',
    username: 'alice',
    email: 'alice@corp.example',
    groups: ['engineers'],
    attributes: { team: 'payments' },
    authTime: 1_700_000_000_000,
    ...overrides,
  };
}

/** A SAML identity from IdP `adfs`; override any field. */
export function samlIdentity(overrides: Partial<Identity> = {}): Identity {
  return {
    idp: 'adfs',
    protocol: 'saml',
    issuer: 'https://adfs.corp.example/adfs/services/trust',
    subject: 'bob-nameid',
    username: 'bob',
    email: 'bob@corp.example',
    groups: ['app-billing-admins'],
    attributes: { department: 'finance' },
    authTime: 1_700_000_000_000,
    ...overrides,
  };
}

/** A role as the config loader would produce it (defaults filled in). */
export function role(input: Partial<z.input<typeof roleSchema>> & { name: string }): RoleConfig {
  return roleSchema.parse({
    policy: {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'reports:Get*', Resource: 'arn:aws:reports:::team/*' }],
    },
    ...input,
  });
}

export function mapping(input: z.input<typeof mappingSchema>): MappingConfig {
  return mappingSchema.parse(input);
}
