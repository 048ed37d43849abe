/**
 * End to end against a real OpenID provider (oidc-provider on 127.0.0.1) and a real fedproxy server:
 * the browser sign-in flow driven with a cookie jar, the workload bearer flow, the portal, container
 * credentials through the real AWS SDK provider, and the defences around them.
 */
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import { STATE_TTL_MS } from '../../src/auth/oidc/browser.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { freePort } from '../support/net.js';
import { browserFetch, CookieJar, corpIdpConfig, startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const roles: ConfigInput['roles'] = [
  {
    name: 'reports-reader',
    policy: {
      Statement: [
        { Effect: 'Allow', Action: 'reports:Get*', Resource: 'arn:aws:reports:::team/${fed:group}/*' },
      ],
    },
  },
  {
    name: 'data-analyst',
    policy: {
      Statement: [
        { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::analytics/${fed:username}/*' },
      ],
    },
  },
  {
    name: 'ci-deployer',
    maxSessionDuration: 7200,
    policy: {
      Statement: [
        { Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/${fed:sub}/*' },
      ],
    },
  },
];
const mappings: ConfigInput['mappings'] = [
  { group: 'engineers', roles: ['reports-reader'] },
  { group: 'data-analysts', roles: ['data-analyst'] },
  { idp: 'corp', group: 'ci-deployers', roles: ['ci-deployer'] },
];

async function startFedproxy(idp: TestIdp, port: number, extra: ConfigInput = {}): Promise<RunningServer> {
  const publicUrl = `http://127.0.0.1:${port}`;
  return startServer(
    testConfig({
      server: { listen: `127.0.0.1:${port}`, publicUrl },
      idps: [corpIdpConfig(idp)],
      roles,
      mappings,
      ...extra,
    }),
    { processMetrics: false },
  );
}

describe('OpenID Connect sign-in and credential endpoints (real IdP, real server)', () => {
  let idp: TestIdp;
  let fedproxy: RunningServer;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ redirectUris: [`${base}/auth/oidc/corp/callback`] });
    fedproxy = await startFedproxy(idp, port);
  });
  afterAll(async () => {
    await fedproxy?.close();
    await idp?.close();
  });

  /** Starts a sign-in in a browser (jar) and returns the IdP's redirect back to fedproxy (not yet followed). */
  async function signInAtIdp(jar: CookieJar, user = 'alice', returnTo = '/'): Promise<URL> {
    const start = await browserFetch(
      jar,
      new URL(`/auth/oidc/corp/login?returnTo=${encodeURIComponent(returnTo)}`, base),
    );
    expect(start.status).toBe(303);
    return idp.signIn(new URL(start.headers.get('location')!), user, jar);
  }

  async function signedInBrowser(user = 'alice'): Promise<{ jar: CookieJar; csrfToken: string }> {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar, user);
    const done = await browserFetch(jar, callback);
    expect(done.status).toBe(303);
    const me = await browserFetch(jar, new URL('/v1/me', base));
    const body = (await me.json()) as { csrfToken: string };
    return { jar, csrfToken: body.csrfToken };
  }

  /** A request from the signed-in browser with extra headers (Origin, CSRF token). */
  function fromBrowser(
    jar: CookieJar,
    path: string,
    init: { headers?: Record<string, string>; body?: unknown } = {},
  ) {
    const url = new URL(path, base);
    return fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(url), 'content-type': 'application/json', ...init.headers },
      body: JSON.stringify(init.body ?? {}),
    });
  }

  it('sends the browser to the IdP with PKCE S256, state and nonce', async () => {
    const start = await browserFetch(new CookieJar(), new URL('/auth/oidc/corp/login', base));
    const location = new URL(start.headers.get('location')!);
    expect(location.href.startsWith(idp.issuer)).toBe(true);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(location.searchParams.get('state')).toBeTruthy();
    expect(location.searchParams.get('nonce')).toBeTruthy();
    expect(location.searchParams.get('redirect_uri')).toBe(`${base}/auth/oidc/corp/callback`);
    expect(start.headers.getSetCookie().join()).toMatch(/fp_oidc_binding=.*HttpOnly/i);
  });

  it('signs a user in, shows her roles and why, and hands out credentials that verify', async () => {
    const { jar, csrfToken } = await signedInBrowser('alice');
    const home = await (await browserFetch(jar, new URL('/', base))).text();
    expect(home).toContain('reports-reader');
    expect(home).not.toContain('data-analyst');

    const me = (await (await browserFetch(jar, new URL('/v1/me', base))).json()) as {
      identity: { username: string; groups: string[]; issuer: string; subject: string };
      roles: { name: string; reasons: { group: string }[] }[];
    };
    expect(me.identity).toMatchObject({ username: 'alice', groups: ['engineers'], issuer: idp.issuer });
    expect(me.roles).toEqual([
      expect.objectContaining({
        name: 'reports-reader',
        reasons: [expect.objectContaining({ group: 'engineers' })],
      }),
    ]);

    const res = await fromBrowser(jar, '/v1/credentials', {
      headers: { origin: base, 'x-csrf-token': csrfToken },
      body: { role: 'reports-reader', durationSeconds: 900 },
    });
    expect(res.status).toBe(200);
    const credentials = (await res.json()) as Record<string, string>;
    expect(credentials.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(credentials.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const verified = await fedproxy.services.verifier.verifySessionToken(credentials.SessionToken!);
    expect(verified.record).toMatchObject({ username: 'alice', role: 'reports-reader', idp: 'corp' });
    // The principal is (issuer, subject), never the e-mail or username.
    expect(verified.record.principal).toBe(
      principalId({ issuer: idp.issuer, subject: idp.user('alice').sub }),
    );
    expect(JSON.parse(verified.record.policy).Statement[0].Resource).toEqual([
      'arn:aws:reports:::team/engineers/*',
    ]);
  });

  it('refuses a role the user does not map to with 403 AccessDenied', async () => {
    const { jar, csrfToken } = await signedInBrowser('alice');
    const res = await fromBrowser(jar, '/v1/credentials', {
      headers: { origin: base, 'x-csrf-token': csrfToken },
      body: { role: 'data-analyst' },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AccessDenied');
  });

  it('refuses cookie-authenticated posts without the CSRF token or from another origin', async () => {
    const { jar, csrfToken } = await signedInBrowser('alice');
    const noToken = await fromBrowser(jar, '/v1/credentials', {
      headers: { origin: base },
      body: { role: 'reports-reader' },
    });
    expect(noToken.status).toBe(403);
    const wrongToken = await fromBrowser(jar, '/v1/credentials', {
      headers: { origin: base, 'x-csrf-token': `${csrfToken}x` },
      body: { role: 'reports-reader' },
    });
    expect(wrongToken.status).toBe(403);
    const foreign = await fromBrowser(jar, '/v1/credentials', {
      headers: { origin: 'https://evil.example', 'x-csrf-token': csrfToken },
      body: { role: 'reports-reader' },
    });
    expect(foreign.status).toBe(403);
    const noOrigin = await fromBrowser(jar, '/v1/credentials', {
      headers: { 'x-csrf-token': csrfToken },
      body: { role: 'reports-reader' },
    });
    expect(noOrigin.status).toBe(403);
  });

  it('uses state once: replaying the callback fails and creates no session', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    expect((await browserFetch(jar, callback)).status).toBe(303);
    const replayJar = new CookieJar();
    const replay = await browserFetch(replayJar, callback);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('expired or was already used');
    expect(replayJar.header(new URL(base))).not.toContain('fp_session');
  });

  it('binds state to the browser that started the sign-in (login CSRF)', async () => {
    const callback = await signInAtIdp(new CookieJar());
    const otherBrowser = new CookieJar();
    const res = await browserFetch(otherBrowser, callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('another browser');
    expect(otherBrowser.header(new URL(base))).not.toContain('fp_session');
  });

  it('refuses an unknown or missing state', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    callback.searchParams.set('state', 'forged-state');
    expect((await browserFetch(jar, callback)).status).toBe(400);
    callback.searchParams.delete('state');
    expect((await browserFetch(jar, callback)).status).toBe(400);
  });

  /** Rewrites the pending sign-in of `callback` in the store, to prove the matching check is enforced. */
  async function tamperPending(
    callback: URL,
    change: (pending: Record<string, string>) => void,
  ): Promise<void> {
    const { once } = fedproxy.services.store;
    const state = callback.searchParams.get('state')!;
    const pending = JSON.parse((await once.take('oidc-state', state))!) as Record<string, string>;
    change(pending);
    await once.putIfAbsent('oidc-state', state, JSON.stringify(pending), STATE_TTL_MS);
  }

  it('checks the nonce: an ID token minted for another nonce is refused', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    await tamperPending(callback, (p) => (p.nonce = 'another-nonce'));
    const res = await browserFetch(jar, callback);
    expect(res.status).toBe(401);
    expect(jar.header(new URL(base))).not.toContain('fp_session');
  });

  it('sends the PKCE verifier: a wrong verifier makes the IdP refuse the code', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    await tamperPending(callback, (p) => (p.codeVerifier = 'x'.repeat(43)));
    const res = await browserFetch(jar, callback);
    expect(res.status).toBe(401);
    expect(jar.header(new URL(base))).not.toContain('fp_session');
  });

  it('refuses a callback whose pending sign-in was started for another IdP', async () => {
    // Same browser (its binding cookie is sent), same state, nonce and PKCE verifier: only the IdP the
    // pending sign-in names differs from the callback's.
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    expect(jar.header(callback)).toContain('fp_oidc_binding=');
    await tamperPending(callback, (p) => (p.idp = 'partner'));
    const res = await browserFetch(jar, callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The sign-in was started in another browser; start again');
    expect(jar.header(new URL(base))).not.toContain('fp_session');
  });

  it('never redirects off-site after sign-in', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar, 'alice', '//evil.example/steal');
    const done = await browserFetch(jar, callback);
    expect(done.headers.get('location')).toBe('/');
  });

  it('the portal form hands out credentials as export lines, JSON and a config snippet', async () => {
    const { jar, csrfToken } = await signedInBrowser('dana');
    const url = new URL('/portal/credentials', base);
    const res = await fetch(url, {
      method: 'POST',
      headers: { cookie: jar.header(url), origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken, role: 'data-analyst', durationSeconds: '900' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    expect(page).toMatch(/export AWS_ACCESS_KEY_ID=&#39;ASIA[A-Z2-7]{16}&#39;/);
    expect(page).toContain('export AWS_SESSION_TOKEN=');
    expect(page).toContain('[profile fedproxy-data-analyst]');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('the portal answers a refused form with a readable page, not JSON', async () => {
    const { jar, csrfToken } = await signedInBrowser('alice');
    const url = new URL('/portal/credentials', base);
    const res = await fetch(url, {
      method: 'POST',
      headers: { cookie: jar.header(url), origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken, role: 'data-analyst' }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('Could not get credentials (AccessDenied)');
  });

  it('an invalid bearer token fails even when a valid login cookie comes along (no fallback)', async () => {
    const { jar } = await signedInBrowser('alice');
    const url = new URL('/v1/me', base);
    const res = await fetch(url, {
      headers: { cookie: jar.header(url), authorization: 'Bearer not.a.token' },
    });
    expect(res.status).toBe(401);
  });

  it('logout ends the login session', async () => {
    const { jar, csrfToken } = await signedInBrowser('alice');
    const out = await fromBrowser(jar, '/logout', {
      headers: { origin: base, 'x-csrf-token': csrfToken, accept: 'application/json' },
    });
    expect(out.status).toBe(204);
    const me = await fetch(new URL('/v1/me', base), { headers: { cookie: jar.header(new URL(base)) } });
    expect(me.status).toBe(401);
  });

  describe('workload bearer tokens', () => {
    const post = (token: string, body: unknown) =>
      fetch(new URL('/v1/credentials', base), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it('a workload trades its token for credentials of its mapped role, and gets the same session again', async () => {
      const token = await idp.fetchWorkloadToken();
      const first = await post(token, { role: 'ci-deployer' });
      expect(first.status).toBe(200);
      const a = (await first.json()) as Record<string, string>;
      const b = (await (await post(token, { role: 'ci-deployer' })).json()) as Record<string, string>;
      expect(b.sessionId).toBe(a.sessionId);
      const verified = await fedproxy.services.verifier.verifySessionToken(a.SessionToken!);
      expect(verified.record).toMatchObject({ role: 'ci-deployer', subject: idp.workloadClient.clientId });
    });

    it('refuses unmapped roles (403), bad durations and unknown fields (400), and bad tokens (401)', async () => {
      const token = await idp.fetchWorkloadToken();
      const denied = await post(token, { role: 'reports-reader' });
      expect(denied.status).toBe(403);
      for (const body of [
        { role: 'ci-deployer', durationSeconds: 899 },
        { role: 'ci-deployer', durationSeconds: 7201 },
        { role: 'ci-deployer', durationSeconds: '3600' },
        { role: 'ci-deployer', extra: true },
      ]) {
        const res = await post(token, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ValidationError');
      }
      const forged = `${token.slice(0, -4)}AAAA`;
      const bad = await post(forged, { role: 'ci-deployer' });
      expect(bad.status).toBe(401);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('InvalidIdentityToken');
    });

    it('the AWS SDK container-credentials provider gets working credentials', async () => {
      const token = await idp.fetchWorkloadToken();
      const provider = fromHttp({
        awsContainerCredentialsFullUri: `${base}/v1/container-credentials/ci-deployer`,
        awsContainerAuthorizationToken: token,
      });
      const credentials = await provider();
      expect(credentials.accessKeyId).toMatch(/^ASIA/);
      expect(credentials.expiration).toBeInstanceOf(Date);
      const verified = await fedproxy.services.verifier.verifySessionToken(credentials.sessionToken!);
      expect(verified.record.role).toBe('ci-deployer');
      expect(fedproxy.services.verifier.secretAccessKeyOf(verified.record)).toBe(credentials.secretAccessKey);
    });

    it("container credentials answer AWS's {Code, Message} error shape and ignore login cookies", async () => {
      // A GET that mints must not act on an ambient cookie: alice's session maps to reports-reader,
      // yet without a token the answer is 401.
      const { jar } = await signedInBrowser('alice');
      const url = new URL('/v1/container-credentials/reports-reader', base);
      const res = await fetch(url, { headers: { cookie: jar.header(url) } });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ Code: 'Unauthenticated', Message: expect.any(String) });
    });
  });
});

describe('rate limits', () => {
  it('sign-in starts beyond the per-address limit get 429 with Retry-After', async () => {
    const port = await freePort();
    const idp = await startTestIdp({ redirectUris: [`http://127.0.0.1:${port}/auth/oidc/corp/callback`] });
    const fedproxy = await startFedproxy(idp, port, { rateLimits: { signInPerMinutePerIp: 2 } });
    try {
      const url = new URL('/auth/oidc/corp/login', fedproxy.url);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(url, { redirect: 'manual' })).status);
      expect(statuses).toEqual([303, 303, 429]);
      const limited = await fetch(url, { redirect: 'manual' });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('Throttling');
    } finally {
      await fedproxy.close();
      await idp.close();
    }
  });

  it('credential requests beyond the per-principal limit are throttled, on the JSON API and on STS', async () => {
    const port = await freePort();
    const idp = await startTestIdp();
    const fedproxy = await startFedproxy(idp, port, { rateLimits: { mintPerMinutePerPrincipal: 2 } });
    try {
      const token = await idp.fetchWorkloadToken();
      const mint = () =>
        fetch(new URL('/v1/credentials', fedproxy.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ role: 'ci-deployer' }),
        });
      expect([(await mint()).status, (await mint()).status, (await mint()).status]).toEqual([200, 200, 429]);
      // The same principal through STS counts against the same allowance, and gets AWS's Throttling.
      const sts = await fetch(new URL('/sts/', fedproxy.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          Action: 'AssumeRoleWithWebIdentity',
          Version: '2011-06-15',
          RoleArn: 'arn:aws:iam::000000000000:role/ci-deployer',
          RoleSessionName: 'limited',
          WebIdentityToken: token,
        }),
      });
      expect(sts.status).toBe(400);
      expect(await sts.text()).toContain('<Code>Throttling</Code>');
    } finally {
      await fedproxy.close();
      await idp.close();
    }
  });
});
