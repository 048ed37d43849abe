import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { devConfigPath, loadConfig } from '../../src/config/load.js';
import { configError } from './config-files.js';

const productionExample = fileURLToPath(new URL('../../config/production.example.yaml', import.meta.url));
const productionSecrets = { FEDPROXY_CORP_SECRET: 'corp-secret', FEDPROXY_REDIS_PASSWORD: 'redis-password' };

describe('config/dev.yaml', () => {
  it('is what --dev loads, from any working directory', () => {
    expect(devConfigPath).toBe(fileURLToPath(new URL('../../config/dev.yaml', import.meta.url)));
  });

  it('loads cleanly as a zero-setup development profile', async () => {
    const config = await loadConfig({ dev: true, env: {} });
    expect(config).toMatchObject({
      mode: 'development',
      server: { listen: '127.0.0.1:8080', publicUrl: 'http://127.0.0.1:8080' },
      store: { type: 'memory' },
      keys: { ephemeral: true },
      log: { pretty: true },
      admin: { groups: ['fedproxy-admins'] },
    });
    expect(config.roles.map((r) => r.name)).toEqual([
      'reports-reader',
      'data-analyst',
      'platform-admin',
      'ci-deployer',
    ]);
    expect(config.mappings.map((m) => m.group)).toEqual([
      'engineers',
      'data-analysts',
      'fedproxy-admins',
      'ci-deployers',
    ]);
  });

  it('enables the embedded development IdP, added to idps as `dev`', async () => {
    const config = await loadConfig({ dev: true, env: {} });
    expect(config.devIdp.enabled).toBe(true);
    expect(config.idps).toEqual([
      expect.objectContaining({ id: 'dev', issuer: 'http://127.0.0.1:8080/dev-idp', clientId: 'fedproxy' }),
    ]);
  });
});

describe('config/production.example.yaml', () => {
  it('loads cleanly in production mode with its secrets in the environment', async () => {
    const config = await loadConfig({ file: productionExample, env: productionSecrets });
    expect(config).toMatchObject({
      mode: 'production',
      server: { publicUrl: 'https://fedproxy.corp.example', trustProxy: 1 },
      store: { type: 'redis', redis: { url: 'rediss://fedproxy:redis-password@redis.corp.example:6379' } },
      keys: { dir: '/etc/fedproxy/keys', ephemeral: false },
      credentials: { issuer: 'https://fedproxy.corp.example' },
    });
    expect(config.idps.map((idp) => `${idp.id}:${idp.type}`)).toEqual(['corp:oidc', 'k8s:oidc', 'adfs:saml']);
    expect(config.idps[0]).toMatchObject({ clientSecret: 'corp-secret' });
    expect(config.mappings.some((m) => m.groupPattern !== undefined)).toBe(true);
  });

  it('names each secret it needs when they are missing', async () => {
    const error = await configError(loadConfig({ file: productionExample, env: {} }));
    expect(error.problems.map((p) => p.message)).toEqual([
      'environment variable FEDPROXY_REDIS_PASSWORD is not set (or empty)',
      'environment variable FEDPROXY_CORP_SECRET is not set (or empty)',
    ]);
  });
});

describe('config/compose.yaml (docker-compose.yml)', () => {
  it('loads cleanly in production mode with the variables compose passes', async () => {
    const file = fileURLToPath(new URL('../../config/compose.yaml', import.meta.url));
    const config = await loadConfig({
      file,
      env: {
        FEDPROXY_PUBLIC_URL: 'https://fedproxy.corp.example',
        FEDPROXY_OIDC_ISSUER: 'https://login.corp.example',
        FEDPROXY_OIDC_CLIENT_ID: 'fedproxy',
        FEDPROXY_OIDC_CLIENT_SECRET: 'secret',
      },
    });
    expect(config).toMatchObject({ mode: 'production', store: { type: 'redis' }, keys: { dir: '/keys' } });
  });
});
