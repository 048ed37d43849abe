import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import {
  DEV_IDP_AUDIENCE,
  DEV_IDP_BROWSER_CLIENT_ID,
  DEV_IDP_ID,
  DEV_IDP_MOUNT_PATH,
  devIdpIssuer,
} from '../../config/dev-idp.js';
import type { LoadedConfig } from '../../config/load.js';
import type { DevIdentityProvider, DevIdentityProviderOptions } from './provider.js';

/**
 * From configuration to a running development IdP, for the composition root:
 *
 *   buildServices: const devIdp = await createDevIdpFromConfig(config);   // undefined unless devIdp.enabled
 *   createApp:     if (devIdp) mountDevIdp(app, devIdp);                    // before helmet and body parsers
 *
 * What flows from the configuration: the issuer (`<publicUrl>/dev-idp`), fedproxy's callback URL for the
 * `dev` idp, the browser client's secret (the random one the loader put into that idps entry, so both
 * sides agree without it being written anywhere) and the audience. The workload's secret is made here,
 * random per process; the banner prints it.
 */

export function devIdpOptionsFromConfig(config: LoadedConfig): DevIdentityProviderOptions | undefined {
  if (!config.devIdp.enabled) return undefined;
  const { publicUrl } = config.server;
  const issuer = devIdpIssuer(publicUrl);
  // The entry the loader added, or one the file lists with id `dev`. Only an entry that points at this
  // provider with its client id shares its secret; any other `dev` entry is some other IdP, and the
  // embedded one then still serves the demo workload, with a browser client nobody uses.
  const entry = config.idps.find(
    (idp) =>
      idp.id === DEV_IDP_ID &&
      idp.type === 'oidc' &&
      idp.issuer === issuer &&
      idp.clientId === DEV_IDP_BROWSER_CLIENT_ID,
  );
  const clientSecret = entry?.type === 'oidc' ? entry.clientSecret : undefined;
  const audience = entry?.type === 'oidc' ? entry.audiences[0] : undefined;
  return {
    issuer,
    // GET /auth/oidc/:idp/callback, from the public contract (docs: design.md).
    fedproxyRedirectUris: [`${publicUrl}/auth/oidc/${DEV_IDP_ID}/callback`],
    clientSecret: clientSecret ?? randomSecret(),
    workloadSecret: randomSecret(),
    audience: audience ?? DEV_IDP_AUDIENCE,
  };
}

export async function createDevIdpFromConfig(
  config: LoadedConfig,
  extra: Pick<DevIdentityProviderOptions, 'onServerError'> = {},
): Promise<DevIdentityProvider | undefined> {
  const options = devIdpOptionsFromConfig(config);
  if (options === undefined) return undefined;
  // Loaded only when enabled: a production process never loads oidc-provider.
  const { createDevIdentityProvider } = await import('./provider.js');
  return createDevIdentityProvider({ ...options, ...extra });
}

/**
 * Mounts the IdP at /dev-idp. Call it before helmet (the IdP sets its own CSP and headers on its pages)
 * and before the body parsers (it reads its own form and token request bodies).
 */
export function mountDevIdp(app: Express, devIdp: DevIdentityProvider): void {
  app.use(DEV_IDP_MOUNT_PATH, devIdp.handler);
}

function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}
