import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { envOverrideName, envOverridePath, loadConfig } from '../../src/config/load.js';
import type { OidcIdpConfig } from '../../src/config/schema.js';
import { configError, configFiles, productionBase } from './config-files.js';

const files = configFiles();

describe('validation errors', () => {
  it('reports mistakes in three sections in one error, each with its path, file and line', async () => {
    const file = await files.write(`mode: development
server:
  listen: localhost
store:
  type: memory
  redis:
    commandTimeoutMs: 10
roles:
  - name: reader
    maxSessionDuration: 99999
    policy:
      Statement: [{ Effect: Allow, Action: 's3:GetObject', Resource: '*' }]
`);
    const error = await configError(loadConfig({ file, env: {} }));

    expect(error.file).toBe(file);
    expect(error.problems.map((p) => p.path)).toEqual([
      'server.listen',
      'store.redis.commandTimeoutMs',
      'roles[0].maxSessionDuration',
    ]);
    expect(error.problems.map((p) => p.source)).toEqual([`${file}:3:3`, `${file}:7:5`, `${file}:10:5`]);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe(`Invalid configuration in ${file} (3 problems):`);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe(`  - server.listen: expected host:port, e.g. 127.0.0.1:8080 (${file}:3:3)`);
    expect(lines[2]).toMatch(/^ {2}- store\.redis\.commandTimeoutMs: Too small: .*:7:5\)$/);
    expect(lines[3]).toMatch(/^ {2}- roles\[0\]\.maxSessionDuration: Too big: .*:10:5\)$/);
  });

  it('reports each unknown key at the line where it is written', async () => {
    const file = await files.write(`mode: development
sever:
  listen: 127.0.0.1:8080
roles:
  - name: reader
    policy:
      Statement:
        - { Effect: Allow, Action: 's3:GetObject', Resources: '*' }
`);
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems).toContainEqual({
      path: 'sever',
      message: 'unknown setting',
      source: `${file}:2:1`,
    });
    expect(error.problems).toContainEqual({
      path: 'roles[0].policy.Statement[0].Resources',
      message: 'unknown setting',
      source: `${file}:8:52`,
    });
  });

  it('points a missing required setting at the entry that lacks it', async () => {
    const file = await files.write(`mode: development
idps:
  - id: corp
    type: oidc
`);
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems).toEqual([
      { path: 'idps[0].issuer', message: expect.stringContaining('expected string'), source: `${file}:3:5` },
    ]);
  });

  it('treats an empty top-level key as unset', async () => {
    const file = await files.write('mode: development\nidps:\nroles:\n');
    const config = await loadConfig({ file, env: {} });
    expect(config.idps).toEqual([]);
    expect(config.roles).toEqual([]);
  });
});

describe('YAML', () => {
  it('reports a syntax error with its line and column', async () => {
    const file = await files.write('server:\n  listen: 127.0.0.1:8080\n bad: indent\n');
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.message).toMatch(/^YAML: /);
    expect(error.problems[0]?.source).toBe(`${file}:3:1`);
  });

  it('refuses duplicate keys', async () => {
    const file = await files.write('mode: development\nstore:\n  type: memory\n  type: redis\n');
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems).toEqual([
      { path: '', message: expect.stringMatching(/^YAML: .*unique/), source: `${file}:4:3` },
    ]);
  });

  it('refuses a second document', async () => {
    const file = await files.write('mode: development\n---\nmode: production\n');
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.problems).toEqual([
      { path: '', message: expect.stringContaining('more than one document'), source: `${file}:2:1` },
    ]);
  });

  it('refuses a top level that is not a mapping', async () => {
    const file = await files.write('- mode: development\n');
    const error = await configError(loadConfig({ file, env: {} }));
    expect(error.message).toContain('the top level must be a mapping');
  });

  it('loads an empty file as all defaults', async () => {
    const file = await files.write('# nothing yet\n');
    const config = await loadConfig({ file, dev: true, env: {} });
    expect(config.server.listen).toBe('127.0.0.1:8080');
  });
});

describe('finding the file', () => {
  it('reads FEDPROXY_CONFIG when no file is given, and does not treat it as an override', async () => {
    const file = await files.write('mode: development\nserver: { listen: 127.0.0.1:9001 }\n');
    const config = await loadConfig({ env: { FEDPROXY_CONFIG: file } });
    expect(config.server.listen).toBe('127.0.0.1:9001');
  });

  it('prefers the --config file over FEDPROXY_CONFIG', async () => {
    const chosen = await files.write('mode: development\nserver: { listen: 127.0.0.1:9002 }\n');
    const other = await files.write('mode: development\nserver: { listen: 127.0.0.1:9003 }\n');
    const config = await loadConfig({ file: chosen, env: { FEDPROXY_CONFIG: other } });
    expect(config.server.listen).toBe('127.0.0.1:9002');
  });

  it('asks for a file outside dev mode', async () => {
    const error = await configError(loadConfig({ env: {} }));
    expect(error.message).toContain('no configuration file');
  });

  it('reports a file that does not exist', async () => {
    const error = await configError(loadConfig({ file: '/nonexistent/fedproxy.yaml', env: {} }));
    expect(error.message).toBe(
      'Invalid configuration in /nonexistent/fedproxy.yaml (1 problem):\n  - cannot read the configuration file: file not found',
    );
  });
});

describe('FEDPROXY_* environment overrides', () => {
  it('maps SNAKE_CASE segments joined by __ to nested camelCase paths', () => {
    expect(envOverridePath('FEDPROXY_SERVER__PUBLIC_URL')).toEqual(['server', 'publicUrl']);
    expect(envOverridePath('FEDPROXY_STORE__REDIS__COMMAND_TIMEOUT_MS')).toEqual([
      'store',
      'redis',
      'commandTimeoutMs',
    ]);
    expect(envOverridePath('FEDPROXY_ACCOUNT_ID')).toEqual(['accountId']);
    expect(envOverridePath('REDIS_URL')).toBeUndefined();
    expect(envOverrideName(['revocation', 'maxStalenessMs'])).toBe('FEDPROXY_REVOCATION__MAX_STALENESS_MS');
  });

  it('overrides nested settings with typed values, and beats the file', async () => {
    const file = await files.write(`mode: development
server:
  listen: 127.0.0.1:8080
  trustProxy: false
log:
  level: info
`);
    const config = await loadConfig({
      file,
      env: {
        FEDPROXY_SERVER__LISTEN: '0.0.0.0:8443',
        FEDPROXY_SERVER__PUBLIC_URL: 'https://fedproxy.test',
        FEDPROXY_SERVER__TRUST_PROXY: '2',
        FEDPROXY_SERVER__ALLOW_PLAIN_HTTP: 'true',
        FEDPROXY_STORE__REDIS__COMMAND_TIMEOUT_MS: '500',
        FEDPROXY_LOG__LEVEL: 'debug',
        // String-only settings keep the text as written: leading zeros survive.
        FEDPROXY_ACCOUNT_ID: '000000000042',
        FEDPROXY_STORE__REDIS__KEY_PREFIX: '123',
      },
    });
    expect(config.server.listen).toBe('0.0.0.0:8443');
    expect(config.server.publicUrl).toBe('https://fedproxy.test');
    expect(config.server.trustProxy).toBe(2);
    expect(config.server.allowPlainHttp).toBe(true);
    expect(config.store.redis.commandTimeoutMs).toBe(500);
    expect(config.log.level).toBe('debug');
    expect(config.accountId).toBe('000000000042');
    expect(config.store.redis.keyPrefix).toBe('123');
  });

  it('keeps a value that YAML would read as a mapping as a plain string', async () => {
    const file = await files.write('mode: development\n');
    const config = await loadConfig({
      file,
      env: { FEDPROXY_CREDENTIALS__ISSUER: 'urn:x: y', FEDPROXY_STORE__REDIS__URL: 'redis://h:1/#0' },
    });
    expect(config.credentials.issuer).toBe('urn:x: y');
    expect(config.store.redis.url).toBe('redis://h:1/#0');
  });

  it('names the variable when an overridden value is invalid', async () => {
    const file = await files.write('mode: development\n');
    const error = await configError(
      loadConfig({ file, env: { FEDPROXY_SERVER__LISTEN: 'nowhere', FEDPROXY_SERVER__TRUST_PROXY: 'yes' } }),
    );
    expect(error.problems).toEqual([
      {
        path: 'server.listen',
        message: 'expected host:port, e.g. 127.0.0.1:8080',
        source: 'env FEDPROXY_SERVER__LISTEN',
      },
      { path: 'server.trustProxy', message: expect.any(String), source: 'env FEDPROXY_SERVER__TRUST_PROXY' },
    ]);
  });

  it('reports every override that cannot apply, all at once', async () => {
    const file = await files.write('mode: development\n');
    const error = await configError(
      loadConfig({
        file,
        env: {
          FEDPROXY_SERVER__LISTN: '127.0.0.1:1',
          FEDPROXY_SERVER_PUBLIC_URL: 'https://typo.test',
          FEDPROXY_ROLES: '[]',
          FEDPROXY_IDPS__0__CLIENT_SECRET: 'x',
          FEDPROXY_STORE: 'redis',
        },
      }),
    );
    expect(error.problems).toEqual([
      {
        path: 'idps',
        message: expect.stringContaining('is a list'),
        source: 'env FEDPROXY_IDPS__0__CLIENT_SECRET',
      },
      { path: 'roles', message: expect.stringContaining('is a list'), source: 'env FEDPROXY_ROLES' },
      // In the order of the variable names.
      {
        path: '',
        message: 'not an override; did you mean FEDPROXY_SERVER__PUBLIC_URL?',
        source: 'env FEDPROXY_SERVER_PUBLIC_URL',
      },
      { path: 'server', message: 'has no setting named listn', source: 'env FEDPROXY_SERVER__LISTN' },
      { path: 'store', message: expect.stringContaining('is a section'), source: 'env FEDPROXY_STORE' },
    ]);
  });

  it('ignores FEDPROXY_* variables that name no top-level setting, and FEDPROXY_KEYS', async () => {
    const file = await files.write('mode: development\n');
    const config = await loadConfig({
      file,
      env: { FEDPROXY_URL: 'https://elsewhere.test', FEDPROXY_KEYS: '{"keys":[]}', FEDPROXY_E2E: '1' },
    });
    expect(config.mode).toBe('development');
  });
});

describe('${env:NAME} interpolation', () => {
  it('replaces references in string values, whole or inside a string, and leaves policy variables alone', async () => {
    const file = await files.write(`mode: development
store:
  redis:
    url: redis://:\${env:REDIS_PASSWORD}@redis.test:6379
idps:
  - id: corp
    type: oidc
    issuer: https://login.test
    clientSecret: \${env:FEDPROXY_CORP_SECRET}
roles:
  - name: reader
    policy:
      Statement:
        - { Effect: Allow, Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/\${fed:username}/*' }
`);
    const config = await loadConfig({
      file,
      // The secret is taken verbatim: never parsed as YAML, never expanded again.
      env: { REDIS_PASSWORD: 'p@ss', FEDPROXY_CORP_SECRET: '[not]: yaml ${env:REDIS_PASSWORD}' },
    });
    expect(config.store.redis.url).toBe('redis://:p@ss@redis.test:6379');
    expect(config.idps[0]).toMatchObject({ clientSecret: '[not]: yaml ${env:REDIS_PASSWORD}' });
    expect(config.roles[0]?.policy.Statement).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/${fed:username}/*' },
    ]);
  });

  it('reports an unset or empty variable with the setting it was for, never a value', async () => {
    const file = await files.write(`mode: development
idps:
  - id: corp
    type: oidc
    issuer: https://login.test
    clientSecret: \${env:FEDPROXY_CORP_SECRET}
store:
  redis: { url: 'redis://:\${env:EMPTY}@h:1' }
log: { level: '\${env:bad-name}' }
`);
    const error = await configError(loadConfig({ file, env: { EMPTY: '' } }));
    expect(error.problems.slice(0, 3)).toEqual([
      {
        path: 'idps[0].clientSecret',
        message: 'environment variable FEDPROXY_CORP_SECRET is not set (or empty)',
        source: `${file}:6:5`,
      },
      {
        path: 'store.redis.url',
        message: 'environment variable EMPTY is not set (or empty)',
        source: `${file}:8:12`,
      },
      {
        path: 'log.level',
        message: expect.stringContaining('not a valid environment reference'),
        source: `${file}:9:8`,
      },
    ]);
  });
});

describe('development mode', () => {
  it('defaults to the memory store and ephemeral keys', async () => {
    const file = await files.write('log: { level: warn }\n');
    const config = await loadConfig({ file, dev: true, env: {} });
    expect(config.mode).toBe('development');
    expect(config.store.type).toBe('memory');
    expect(config.keys.ephemeral).toBe(true);
  });

  it('--dev wins over the file and the environment', async () => {
    const file = await files.write('mode: production\n');
    const config = await loadConfig({ file, dev: true, env: { FEDPROXY_MODE: 'production' } });
    expect(config.mode).toBe('development');
  });

  it('switches to Redis when REDIS_URL is set, even over the dev profile', async () => {
    const config = await loadConfig({ dev: true, env: { REDIS_URL: 'redis://10.1.2.3:6380' } });
    expect(config.store.type).toBe('redis');
    expect(config.store.redis.url).toBe('redis://10.1.2.3:6380');
  });

  it('lets an explicit FEDPROXY_STORE__TYPE win over REDIS_URL', async () => {
    const config = await loadConfig({
      dev: true,
      env: { REDIS_URL: 'redis://10.1.2.3:6380', FEDPROXY_STORE__TYPE: 'memory' },
    });
    expect(config.store.type).toBe('memory');
  });

  it('uses configured keys instead of ephemeral ones', async () => {
    const file = await files.write('keys: { dir: ./keys }\n');
    expect((await loadConfig({ file, dev: true, env: {} })).keys).toEqual({
      dir: './keys',
      ephemeral: false,
    });
    const fromEnv = await loadConfig({ file: await files.write(''), dev: true, env: { FEDPROXY_KEYS: 'x' } });
    expect(fromEnv.keys.ephemeral).toBe(false);
  });

  it('REDIS_URL outside dev mode only sets the URL; FEDPROXY_STORE__REDIS__URL beats it', async () => {
    const file = await files.write(`${productionBase}`);
    const config = await loadConfig({ file, env: { REDIS_URL: 'redis://a:1' } });
    expect(config.store).toMatchObject({ type: 'redis', redis: { url: 'redis://a:1' } });
    const both = await loadConfig({
      file,
      env: { REDIS_URL: 'redis://a:1', FEDPROXY_STORE__REDIS__URL: 'redis://b:2' },
    });
    expect(both.store.redis.url).toBe('redis://b:2');
  });
});

describe('derived values', () => {
  const derived = async (server: string, credentials = '{}') => {
    const file = await files.write(`mode: development\nserver: ${server}\ncredentials: ${credentials}\n`);
    const config = await loadConfig({ file, env: {} });
    return { publicUrl: config.server.publicUrl, issuer: config.credentials.issuer };
  };

  it('derives publicUrl from the listen address, turning wildcards into loopback', async () => {
    expect(await derived('{ listen: 127.0.0.1:8080 }')).toEqual({
      publicUrl: 'http://127.0.0.1:8080',
      issuer: 'http://127.0.0.1:8080',
    });
    expect((await derived('{ listen: 0.0.0.0:9000 }')).publicUrl).toBe('http://127.0.0.1:9000');
    expect((await derived("{ listen: '[::]:9000' }")).publicUrl).toBe('http://[::1]:9000');
    expect((await derived('{ listen: localhost:9000 }')).publicUrl).toBe('http://localhost:9000');
  });

  it('uses https when TLS is configured', async () => {
    expect((await derived('{ listen: 127.0.0.1:8443, tls: { cert: c.pem, key: k.pem } }')).publicUrl).toBe(
      'https://127.0.0.1:8443',
    );
  });

  it('keeps an explicit publicUrl without its trailing slash, and an explicit issuer', async () => {
    expect(await derived('{ publicUrl: "https://fedproxy.test/base/" }')).toEqual({
      publicUrl: 'https://fedproxy.test/base',
      issuer: 'https://fedproxy.test/base',
    });
    expect(await derived('{ publicUrl: "https://fedproxy.test" }', '{ issuer: "urn:fedproxy" }')).toEqual({
      publicUrl: 'https://fedproxy.test',
      issuer: 'urn:fedproxy',
    });
  });

  it('refuses a publicUrl with a query, fragment or credentials', async () => {
    const error = await configError(derived('{ publicUrl: "https://u:p@fedproxy.test/?a=b" }'));
    expect(error.problems).toEqual([
      {
        path: 'server.publicUrl',
        message: expect.stringContaining('plain base URL'),
        source: expect.any(String),
      },
    ]);
  });

  it('refuses a listen port that cannot be a URL port', async () => {
    const error = await configError(derived('{ listen: 127.0.0.1:99999 }'));
    expect(error.problems[0]?.path).toBe('server.listen');
  });
});

describe('reserved names', () => {
  it('refuses an IdP named "federation", which GetFederationToken sessions carry', async () => {
    const yaml =
      'mode: development\nidps:\n  - { id: federation, type: oidc, issuer: https://idp.test, audiences: [x] }\n';
    const error = await configError(loadConfig({ file: await files.write(yaml), env: {} }));
    expect(error.problems.map((p) => p.path)).toContain('idps[0].id');
  });
});

describe('the development IdP (devIdp.enabled)', () => {
  const devIdpYaml = 'mode: development\nserver: { listen: 127.0.0.1:8181 }\ndevIdp: { enabled: true }\n';

  it('refuses the development IdP on a non-loopback listen address, even in development mode', async () => {
    const error = await configError(
      loadConfig({ file: await files.write(devIdpYaml.replace('127.0.0.1:8181', '0.0.0.0:8181')), env: {} }),
    );
    expect(error.problems.map((p) => p.path)).toContain('devIdp.enabled');
  });

  it('adds the idp `dev` at <publicUrl>/dev-idp with a client secret made at every load', async () => {
    const first = await loadConfig({ file: await files.write(devIdpYaml), env: {} });
    expect(first.idps).toEqual([
      expect.objectContaining({
        id: 'dev',
        type: 'oidc',
        displayName: 'Development IdP (demo users)',
        issuer: 'http://127.0.0.1:8181/dev-idp',
        clientId: 'fedproxy',
        clientSecret: expect.stringMatching(/^[\w-]{43}$/),
        audiences: ['fedproxy'],
        browser: true,
        scopes: ['openid', 'profile', 'email', 'groups'],
        claims: { subject: 'sub', username: 'preferred_username', email: 'email', groups: 'groups' },
      }),
    ]);
    const second = await loadConfig({ file: await files.write(devIdpYaml), env: {} });
    const secrets = [first, second].map((config) => (config.idps[0] as OidcIdpConfig).clientSecret);
    expect(secrets[0]).not.toBe(secrets[1]);
  });

  it('keeps an idp the file lists with the id `dev` instead of adding one', async () => {
    const yaml = `${devIdpYaml}idps:\n  - { id: dev, type: oidc, issuer: https://idp.test, audiences: [x] }\n`;
    const config = await loadConfig({ file: await files.write(yaml), env: {} });
    expect(config.idps).toEqual([expect.objectContaining({ id: 'dev', issuer: 'https://idp.test' })]);
  });

  it('lets mappings name the `dev` idp only while it is enabled', async () => {
    const mapping = `roles:
  - { name: r, policy: { Statement: [{ Effect: Allow, Action: 'x:Y', Resource: '*' }] } }
mappings:
  - { idp: dev, group: g, roles: [r] }
`;
    const config = await loadConfig({ file: await files.write(devIdpYaml + mapping), env: {} });
    expect(config.mappings).toEqual([expect.objectContaining({ idp: 'dev' })]);
    const error = await configError(
      loadConfig({ file: await files.write(devIdpYaml.replace('true', 'false') + mapping), env: {} }),
    );
    expect(error.problems.map((p) => [p.path, p.message])).toEqual([
      ['mappings[0].idp', 'unknown idp "dev"'],
    ]);
  });

  it('is off by default', async () => {
    const config = await loadConfig({ file: await files.write('mode: development\n'), env: {} });
    expect(config.devIdp).toEqual({ enabled: false });
    expect(config.idps).toEqual([]);
  });
});

describe('ConfigError', () => {
  it('is a plain Error, not an HTTP error', async () => {
    const error = await configError(loadConfig({ env: {} }));
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.name).toBe('ConfigError');
    expect('status' in error).toBe(false);
  });
});
