import { execFile, spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express from 'express';
import helmet from 'helmet';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devIdpBannerLines, devIdpWorkloadCommands } from '../../src/auth/dev-idp/banner.js';
import {
  createDevIdpFromConfig,
  devIdpOptionsFromConfig,
  mountDevIdp,
} from '../../src/auth/dev-idp/from-config.js';
import type { DevIdentityProvider } from '../../src/auth/dev-idp/provider.js';
import { loadConfig } from '../../src/config/load.js';
import type { LoadedConfig } from '../../src/config/load.js';
import type { OidcIdpConfig } from '../../src/config/schema.js';
import {
  browserFetch,
  CookieJar,
  DEFAULT_TEST_REDIRECT_URI,
  fetchClientCredentialsToken,
  parseForm,
  signInAtDevIdp,
  startTestIdp,
} from '../support/oidc-idp.js';
import type { TestIdp } from '../support/oidc-idp.js';

function commandAvailable(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

const insecureLoopback = { execute: [client.allowInsecureRequests] };

/** openid-client configured as fedproxy's browser client, and a fresh authorization request. */
async function browserClient(issuer: string, clientId: string, clientSecret: string) {
  return client.discovery(
    new URL(issuer),
    clientId,
    undefined,
    client.ClientSecretBasic(clientSecret),
    insecureLoopback,
  );
}

async function authorizationRequest(
  config: client.Configuration,
  redirectUri: string,
  scope = 'openid profile email groups',
) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const expectedNonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
  });
  return { url, checks: { pkceCodeVerifier, expectedState, expectedNonce } };
}

/** Follows redirects from an authorization URL to the login form: the form's page and where it posts. */
async function openLoginForm(
  jar: CookieJar,
  start: URL,
): Promise<{ page: Response; html: string; action: URL }> {
  let url = start;
  for (let hop = 0; hop < 5; hop++) {
    const page = await browserFetch(jar, url);
    const location = page.headers.get('location');
    if (location !== null) {
      url = new URL(location, url);
      continue;
    }
    const html = await page.text();
    const form = parseForm(html, url);
    if (form?.hasPassword !== true) throw new Error(`no login form at ${url.href}: ${page.status}`);
    return { page, html, action: form.action };
  }
  throw new Error('no login form within 5 redirects');
}

describe('development IdP on its own server (the tests’ IdP)', () => {
  let idp: TestIdp;
  let config: client.Configuration;

  beforeAll(async () => {
    idp = await startTestIdp();
    config = await browserClient(idp.issuer, idp.browserClient.clientId, idp.browserClient.clientSecret);
  });
  afterAll(() => idp.close());

  it('publishes discovery with exactly its issuer, the groups scope and S256 PKCE', async () => {
    const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer: idp.issuer,
      token_endpoint: `${idp.issuer}/token`,
      jwks_uri: `${idp.issuer}/jwks`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['openid', 'groups']));
    expect(discovery.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials']));
    expect(config.serverMetadata().issuer).toBe(idp.issuer);
  });

  it('issues the demo workload a JWT access token for the audience with its groups, signed by its JWKS', async () => {
    const token = await idp.fetchWorkloadToken();
    expect(token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const { payload } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: 'fedproxy' });
    expect(payload).toMatchObject({
      sub: 'demo-workload',
      client_id: 'demo-workload',
      aud: 'fedproxy',
      groups: ['ci-deployers'],
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
  });

  it('publishes RS256 and ES256 keys, public halves only', async () => {
    const { keys } = (await (await fetch(`${idp.issuer}/jwks`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) expect(key).not.toHaveProperty('d');
  });

  it('issues the same JWT when the client names the audience as a resource indicator', async () => {
    const { clientId, clientSecret, resource } = idp.workloadClient;
    expect(resource).toBe('urn:fedproxy:audience:fedproxy');
    const response = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
    });
    const { access_token } = (await response.json()) as { access_token: string };
    expect(decodeProtectedHeader(access_token).typ).toBe('at+jwt');
  });

  it('refuses the workload with a wrong secret', async () => {
    await expect(
      fetchClientCredentialsToken(idp.issuer, { clientId: 'demo-workload', clientSecret: 'wrong' }),
    ).rejects.toThrow(/401.*invalid_client/);
  });

  it('signs alice in with code + PKCE + state + nonce, and her groups are in the ID token', async () => {
    const { url, checks } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const callback = await idp.signIn(url, 'alice');
    expect(callback.href.startsWith(`${DEFAULT_TEST_REDIRECT_URI}?`)).toBe(true);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(checks.expectedState);

    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    expect(tokens.claims()).toMatchObject({
      iss: idp.issuer,
      aud: 'fedproxy',
      sub: idp.user('alice').sub,
      preferred_username: 'alice',
      name: 'Alice Engineer',
      email: 'alice@example.com',
      groups: ['engineers'],
    });
  });

  it('puts no groups in the ID token when the groups scope is not asked for', async () => {
    const { url, checks } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI, 'openid profile');
    const tokens = await client.authorizationCodeGrant(config, await idp.signIn(url, 'dana'), checks);
    expect(tokens.claims()).toMatchObject({ preferred_username: 'dana' });
    expect(tokens.claims()).not.toHaveProperty('groups');
  });

  it('asks for the password on every sign-in, so the next one can be another user', async () => {
    const jar = new CookieJar();
    const first = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    await client.authorizationCodeGrant(config, await idp.signIn(first.url, 'alice', jar), first.checks);
    const second = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const { action } = await openLoginForm(jar, second.url);
    const login = await browserFetch(jar, action, {
      form: { username: 'adam', password: 'adam-dev', action: 'login' },
    });
    // oidc-provider ends alice's IdP session first, with an auto-submitting page whose one inline script
    // is allowed by its hash and nothing else.
    const endSession = await browserFetch(jar, new URL(login.headers.get('location')!, action));
    expect(endSession.status).toBe(200);
    expect(endSession.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[\w+/=]+'/);
    const autoSubmit = parseForm(await endSession.text(), action)!;
    const confirmed = await browserFetch(jar, autoSubmit.action, { form: autoSubmit.hidden });
    const callback = await idp.signIn(new URL(confirmed.headers.get('location')!, action), 'adam', jar);
    const tokens = await client.authorizationCodeGrant(config, callback, second.checks);
    expect(tokens.claims()).toMatchObject({
      preferred_username: 'adam',
      groups: ['fedproxy-admins', 'engineers'],
    });
  });

  it('refuses a wrong password with 401 and the form again, and then accepts the right one', async () => {
    const jar = new CookieJar();
    const { url, checks } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const { action } = await openLoginForm(jar, url);

    const refused = await browserFetch(jar, action, {
      form: { username: 'alice', password: 'dana-dev', action: 'login' },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('location')).toBeNull();
    const html = await refused.text();
    expect(html).toContain('Invalid username or password.');
    expect(html).toContain('value="alice"');

    const unknownUser = await browserFetch(jar, action, {
      form: { username: 'mallory', password: 'alice-dev', action: 'login' },
    });
    expect(unknownUser.status).toBe(401);

    const accepted = await browserFetch(jar, action, {
      form: { username: 'alice', password: 'alice-dev', action: 'login' },
    });
    expect(accepted.status).toBe(303);
    const callback = await idp.signIn(new URL(accepted.headers.get('location')!, action), 'alice', jar);
    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    expect(tokens.claims()).toMatchObject({ preferred_username: 'alice' });
  });

  it('sends a cancelled sign-in back to the client with access_denied', async () => {
    const jar = new CookieJar();
    const { url } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const { action } = await openLoginForm(jar, url);
    const cancelled = await browserFetch(jar, action, { form: { action: 'cancel' } });
    expect(cancelled.status).toBe(303);
    const callback = await idp.signIn(new URL(cancelled.headers.get('location')!, action), 'alice', jar);
    expect(callback.searchParams.get('error')).toBe('access_denied');
  });

  it('refuses a form post without the interaction cookie, or for another interaction', async () => {
    const jar = new CookieJar();
    const { url } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const { action } = await openLoginForm(jar, url);
    const form = { username: 'alice', password: 'alice-dev', action: 'login' };

    const crossSite = await browserFetch(new CookieJar(), action, { form });
    expect(crossSite.status).toBe(400);
    expect(await crossSite.text()).toContain('Sign-in expired');

    // The interaction cookie is scoped to its own path; send it to another uid's URL by hand.
    const other = new URL(action.href.replace(/[^/]+$/, 'another-interaction'));
    const response = await fetch(other, {
      method: 'POST',
      headers: { cookie: jar.header(action), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    expect(response.status).toBe(400);
  });

  it('requires PKCE of fedproxy’s confidential client', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: DEFAULT_TEST_REDIRECT_URI,
      scope: 'openid',
      state: client.randomState(),
    });
    const response = await browserFetch(new CookieJar(), url);
    const location = new URL(response.headers.get('location')!);
    expect(location.href.startsWith(DEFAULT_TEST_REDIRECT_URI)).toBe(true);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('escapes what it echoes, and sends its pages with a strict CSP and no inline script or style', async () => {
    const jar = new CookieJar();
    const { url } = await authorizationRequest(config, DEFAULT_TEST_REDIRECT_URI);
    const { page, html, action } = await openLoginForm(jar, url);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:9(;|$)/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(html).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);

    const hostile = '"><script>alert(1)</script>';
    const refused = await browserFetch(jar, action, { form: { username: hostile, password: 'x' } });
    const echoed = await refused.text();
    expect(echoed).not.toContain('<script>');
    expect(echoed).toContain('&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;');

    const stylesheet = await fetch(new URL(/href="([^"]+\.css)"/.exec(html)![1]!, action));
    expect(stylesheet.headers.get('content-type')).toMatch(/^text\/css/);
  });
});

describe('development IdP mounted at /dev-idp, as `npm start` runs it', () => {
  let server: Server;
  let config: LoadedConfig;
  let devIdp: DevIdentityProvider;
  let entry: OidcIdpConfig;

  beforeAll(async () => {
    // The composition root's order: the IdP before helmet and the body parsers.
    const app = express();
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const { port } = server.address() as AddressInfo;
    config = await loadConfig({ dev: true, env: { FEDPROXY_SERVER__LISTEN: `127.0.0.1:${port}` } });
    devIdp = (await createDevIdpFromConfig(config))!;
    mountDevIdp(app, devIdp);
    app.use(helmet());
    app.use(express.urlencoded({ extended: false }));
    app.use((_req, res) => {
      res.status(404).end();
    });
    entry = config.idps.find((idp) => idp.id === 'dev') as OidcIdpConfig;
  });
  afterAll(async () => {
    await devIdp.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('takes its issuer, redirect URI and browser client secret from the loaded configuration', () => {
    const { publicUrl } = config.server;
    expect(devIdp.issuer).toBe(`${publicUrl}/dev-idp`);
    expect(entry).toMatchObject({ issuer: devIdp.issuer, clientId: devIdp.browserClient.clientId });
    expect(entry.clientSecret).toBe(devIdp.browserClient.clientSecret);
    expect(devIdpOptionsFromConfig(config)).toMatchObject({
      fedproxyRedirectUris: [`${publicUrl}/auth/oidc/dev/callback`],
      audience: 'fedproxy',
    });
    expect(devIdpOptionsFromConfig({ ...config, devIdp: { enabled: false } })).toBeUndefined();
  });

  it('runs the browser code flow with the `dev` idp entry as fedproxy will', async () => {
    const oidc = await browserClient(entry.issuer, entry.clientId!, entry.clientSecret!);
    expect(oidc.serverMetadata().authorization_endpoint).toBe(`${devIdp.issuer}/auth`);
    const redirectUri = `${config.server.publicUrl}/auth/oidc/dev/callback`;
    const { url, checks } = await authorizationRequest(oidc, redirectUri, entry.scopes.join(' '));
    const user = devIdp.users.find((u) => u.username === 'dana')!;
    const callback = await signInAtDevIdp(devIdp.issuer, url, user);
    expect(callback.pathname).toBe('/auth/oidc/dev/callback');
    const tokens = await client.authorizationCodeGrant(oidc, callback, checks);
    expect(tokens.claims()).toMatchObject({ sub: user.sub, groups: ['data-analysts'] });
  });

  it('prints the demo users with their passwords, and the workload with its role', () => {
    const lines = devIdpBannerLines(config, devIdp);
    expect(lines[0]).toContain(devIdp.issuer);
    for (const user of devIdp.users) {
      expect(lines.some((line) => line.includes(`${user.username} / ${user.password}`))).toBe(true);
    }
    expect(lines.at(-1)).toContain('demo-workload, groups ci-deployers → role ci-deployer');
    const [, trade] = devIdpWorkloadCommands(config, devIdp);
    expect(trade).toBe(
      `curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"role":"ci-deployer"}'` +
        ` '${config.server.publicUrl}/v1/credentials'`,
    );
  });

  it.skipIf(!commandAvailable('curl') || !commandAvailable('sed'))(
    'prints a token command that works as pasted into a shell (curl and sed, no jq)',
    async () => {
      const [getToken] = devIdpWorkloadCommands(config, devIdp);
      const { stdout } = await promisify(execFile)('sh', ['-c', `${getToken}\nprintf %s "$TOKEN"`]);
      const jwks = createRemoteJWKSet(new URL(`${devIdp.issuer}/jwks`));
      const { payload } = await jwtVerify(stdout, jwks, { issuer: devIdp.issuer, audience: entry.audiences });
      expect(payload.groups).toEqual(['ci-deployers']);
    },
  );
});
