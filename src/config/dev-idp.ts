import { randomBytes } from 'node:crypto';
import type { ConfigInput } from './schema.js';

/**
 * The embedded development OpenID provider as the configuration sees it (`devIdp.enabled`): where it is
 * served and the `idps` entry the loader adds for it. The provider itself lives in src/auth/dev-idp/;
 * these names are here so the loader does not depend on auth/.
 */

/** The id of the added idp: sign-in runs at /auth/oidc/dev/... */
export const DEV_IDP_ID = 'dev';
/** Where the provider is mounted below `server.publicUrl`; its issuer is `<publicUrl>/dev-idp`. */
export const DEV_IDP_MOUNT_PATH = '/dev-idp';
/** fedproxy's OAuth client at the development IdP (browser sign-in). */
export const DEV_IDP_BROWSER_CLIENT_ID = 'fedproxy';
/** The `aud` of the demo workload's access tokens, and the audience the `dev` idp accepts. */
export const DEV_IDP_AUDIENCE = 'fedproxy';

export function devIdpIssuer(publicUrl: string): string {
  return `${publicUrl}${DEV_IDP_MOUNT_PATH}`;
}

type OidcIdpInput = Extract<NonNullable<ConfigInput['idps']>[number], { type: 'oidc' }>;

/**
 * The `idps` entry for the embedded provider, as written (the loader validates it, filling in defaults).
 * Its client secret is random per process (per load): the provider takes it from this entry, so it is
 * never written down, and nothing that knew an earlier process's secret can use it.
 */
export function devIdpEntry(publicUrl: string): OidcIdpInput {
  return {
    id: DEV_IDP_ID,
    type: 'oidc',
    displayName: 'Development IdP (demo users)',
    issuer: devIdpIssuer(publicUrl),
    clientId: DEV_IDP_BROWSER_CLIENT_ID,
    clientSecret: randomBytes(32).toString('base64url'),
    audiences: [DEV_IDP_AUDIENCE],
    browser: true,
    // The demo users' groups travel in the ID token only when the `groups` scope is asked for.
    scopes: ['openid', 'profile', 'email', 'groups'],
  };
}
