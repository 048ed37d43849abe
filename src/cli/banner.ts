import { devIdpBannerLines, devIdpWorkloadCommands } from '../auth/dev-idp/banner.js';
import type { DevIdentityProvider } from '../auth/dev-idp/provider.js';
import type { LoadedConfig } from '../config/load.js';

/**
 * The dev-mode banner: where to go, who can sign in, and what dev mode means, so nobody mistakes it for
 * production. Commands to copy are printed below the box, alone on their lines.
 */
export function devBanner(
  config: LoadedConfig,
  url: string,
  devIdp: DevIdentityProvider | undefined,
): string {
  const store =
    config.store.type === 'memory'
      ? 'in-memory store (this process only; everything is lost on restart)'
      : `Redis at ${config.store.redis.url}`;
  const lines = [
    'fedproxy is running in DEVELOPMENT MODE',
    '',
    `  portal      ${config.server.publicUrl}/   (listening on ${url})`,
    `  health      ${config.server.publicUrl}/healthz`,
    '',
    ...(devIdp === undefined ? [] : [...devIdpBannerLines(config, devIdp), '']),
    `  store       ${store}`,
    config.keys.ephemeral
      ? '  keys        ephemeral: generated at start, credentials die with this process'
      : `  keys        ${config.keys.dir ?? 'FEDPROXY_KEYS'}`,
    `  roles       ${config.roles.map((role) => role.name).join(', ') || '(none)'}`,
    '',
    '  Dev mode allows settings production refuses. Never expose this instance.',
  ];
  const width = Math.max(...lines.map((line) => line.length)) + 2;
  const bar = '='.repeat(width + 2);
  const box = `${bar}\n${lines.map((line) => `| ${line.padEnd(width - 1)}|`).join('\n')}\n${bar}`;
  const commands =
    devIdp === undefined
      ? ''
      : `\nA demo workload trades its OIDC token for credentials:\n\n${devIdpWorkloadCommands(config, devIdp).join('\n')}\n`;
  return `\n${box}\n${commands}\n`;
}
