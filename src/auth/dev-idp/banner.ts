import { DEV_IDP_ID } from '../../config/dev-idp.js';
import type { LoadedConfig } from '../../config/load.js';
import { resolveGrants } from '../../policy/mappings.js';
import type { DevIdentityProvider } from './provider.js';

/**
 * What the dev-mode banner says about the development IdP: who can sign in (with their published
 * passwords) and how a workload gets credentials. Two parts, because commands are meant to be copied:
 * {@link devIdpBannerLines} fits inside the banner's box, {@link devIdpWorkloadCommands} goes below it,
 * with nothing before or after a command on its line.
 */

type BannerConfig = Pick<LoadedConfig, 'server' | 'roles' | 'mappings'>;

export function devIdpBannerLines(config: BannerConfig, devIdp: DevIdentityProvider): string[] {
  const { workloadClient } = devIdp;
  const users = devIdp.users.map((user) => ({
    login: `${user.username} / ${user.password}`,
    title: user.title,
    groups: user.groups.join(', '),
  }));
  const loginWidth = Math.max(...users.map((u) => u.login.length));
  const titleWidth = Math.max(...users.map((u) => u.title.length));
  const role = workloadRole(config, workloadClient.groups);
  return [
    `  dev IdP     ${devIdp.issuer} (embedded OpenID provider; sign in at ${config.server.publicUrl})`,
    ...users.map(
      (u) => `              ${u.login.padEnd(loginWidth)}   ${u.title.padEnd(titleWidth)}   ${u.groups}`,
    ),
    `  workload    ${workloadClient.clientId}, groups ${workloadClient.groups.join(', ')}` +
      (role === undefined ? ' (no mapping gives it a role)' : ` → role ${role}; try the commands below`),
  ];
}

/**
 * Two shell lines (POSIX sh, curl and sed; no jq): a client-credentials token from the IdP's token
 * endpoint, then that token traded at POST /v1/credentials for the workload's role. The workload's
 * secret is in the first line: it is random per process and only good for this dev instance.
 */
export function devIdpWorkloadCommands(config: BannerConfig, devIdp: DevIdentityProvider): string[] {
  const { workloadClient } = devIdp;
  const role = workloadRole(config, workloadClient.groups) ?? '<role>';
  const body = JSON.stringify({ role });
  return [
    `TOKEN=$(curl -s -u '${workloadClient.clientId}:${workloadClient.clientSecret}' -d grant_type=client_credentials` +
      ` '${devIdp.issuer}/token' | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '${body}'` +
      ` '${config.server.publicUrl}/v1/credentials'`,
  ];
}

/** The first role the mappings give a `dev` identity with these groups, as a sign-in would resolve it. */
function workloadRole(config: BannerConfig, groups: readonly string[]): string | undefined {
  return resolveGrants({ idp: DEV_IDP_ID, groups: [...groups] }, config.roles, config.mappings)[0]?.role.name;
}
