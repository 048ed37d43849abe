import type { Config } from '../config/schema.js';

/** The dev-mode banner: where to go, and what dev mode means, so nobody mistakes it for production. */
export function devBanner(config: Config, url: string): string {
  const store =
    config.store.type === 'memory'
      ? 'in-memory store (this process only; everything is lost on restart)'
      : `Redis at ${config.store.redis.url}`;
  const lines = [
    'fedproxy is running in DEVELOPMENT MODE',
    '',
    `  health      ${url}/healthz`,
    `  public keys ${url}/.well-known/jwks.json`,
    '',
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
  return `\n${bar}\n${lines.map((line) => `| ${line.padEnd(width - 1)}|`).join('\n')}\n${bar}\n\n`;
}
