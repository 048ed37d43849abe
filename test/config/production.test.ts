import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { isLoopbackHost } from '../../src/config/production.js';
import { configError, configFiles, productionBase } from './config-files.js';

const files = configFiles();

/** Loads `yaml` in production mode and returns the paths it is refused for. */
async function refusedPaths(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const error = await configError(loadConfig({ file: await files.write(yaml), env }));
  return error.problems.map((p) => p.path);
}

describe('production mode', () => {
  it('accepts a configuration with Redis, a key folder and loopback HTTP', async () => {
    const config = await loadConfig({ file: await files.write(productionBase), env: {} });
    expect(config.mode).toBe('production');
  });

  it('refuses the memory store', async () => {
    expect(await refusedPaths(productionBase.replace('type: redis', 'type: memory'))).toEqual(['store.type']);
  });

  it('refuses ephemeral keys', async () => {
    expect(await refusedPaths(`${productionBase}  ephemeral: true\n`)).toEqual(['keys.ephemeral']);
  });

  it('refuses a configuration without a key source, and accepts FEDPROXY_KEYS as one', async () => {
    const yaml = productionBase.replace('  dir: /etc/fedproxy/keys\n', '  ephemeral: false\n');
    expect(await refusedPaths(yaml)).toEqual(['keys.dir']);
    const config = await loadConfig({ file: await files.write(yaml), env: { FEDPROXY_KEYS: '{"keys":[]}' } });
    expect(config.keys.dir).toBeUndefined();
  });

  it('refuses plain HTTP on a non-loopback address unless allowPlainHttp', async () => {
    const yaml = productionBase.replace('127.0.0.1:8080', '0.0.0.0:8080');
    expect(await refusedPaths(yaml)).toEqual(['server.tls']);
    const proxied = await loadConfig({
      file: await files.write(yaml),
      env: { FEDPROXY_SERVER__ALLOW_PLAIN_HTTP: 'true' },
    });
    expect(proxied.server.allowPlainHttp).toBe(true);
    const tls = await loadConfig({
      file: await files.write(yaml.replace('server:\n', 'server:\n  tls: { cert: c.pem, key: k.pem }\n')),
      env: {},
    });
    expect(tls.server.publicUrl).toBe('https://127.0.0.1:8080');
  });

  it('refuses an http: publicUrl on a non-loopback host unless allowPlainHttp', async () => {
    const yaml = productionBase.replace('server:\n', 'server:\n  publicUrl: http://fedproxy.corp.test\n');
    expect(await refusedPaths(yaml)).toEqual(['server.publicUrl']);
    await expect(
      loadConfig({ file: await files.write(yaml), env: { FEDPROXY_SERVER__ALLOW_PLAIN_HTTP: 'true' } }),
    ).resolves.toBeDefined();
    const loopback = productionBase.replace('server:\n', 'server:\n  publicUrl: http://localhost:8080\n');
    await expect(loadConfig({ file: await files.write(loopback), env: {} })).resolves.toBeDefined();
  });

  it('refuses the embedded development IdP', async () => {
    expect(await refusedPaths(`${productionBase}devIdp:\n  enabled: true\n`)).toEqual(['devIdp.enabled']);
    const error = await configError(
      loadConfig({ file: await files.write(`${productionBase}devIdp: { enabled: true }\n`), env: {} }),
    );
    expect(error.problems[0]?.message).toContain('development only');
  });

  it('refuses the development IdP even when another section is invalid', async () => {
    expect(await refusedPaths(`${productionBase}devIdp: { enabled: true }\nlog: { level: loud }\n`)).toEqual([
      'log.level',
      'devIdp.enabled',
    ]);
  });

  it('reports every refusal at once, each located in the file', async () => {
    const file = await files.write(`server:
  listen: 0.0.0.0:8080
  publicUrl: http://fedproxy.corp.test
store:
  type: memory
keys:
  ephemeral: true
`);
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems.map((p) => [p.path, p.source])).toEqual([
      ['store.type', `${file}:5:3`],
      ['keys.ephemeral', `${file}:7:3`],
      ['keys.dir', `${file}:6:1`],
      ['server.tls', `${file}:1:1`],
      ['server.publicUrl', `${file}:3:3`],
    ]);
  });

  it('reports refusals together with validation errors in other sections', async () => {
    const yaml = 'store: { type: memory }\nkeys: { dir: /k }\nlog: { level: loud }\n';
    expect(await refusedPaths(yaml)).toEqual(['log.level', 'store.type']);
  });

  it('allows every development setting in development mode', async () => {
    const file = await files.write(`mode: development
server: { listen: 0.0.0.0:8080, publicUrl: http://laptop.test:8080 }
store: { type: memory }
keys: { ephemeral: true }
`);
    await expect(loadConfig({ file, env: {} })).resolves.toMatchObject({ mode: 'development' });
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['[::1]', true],
    ['::1', true],
    ['[::ffff:127.0.0.1]', true],
    ['0.0.0.0', false],
    ['[::]', false],
    ['10.0.0.1', false],
    ['fedproxy.corp.test', false],
    ['localhost.evil.test', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
