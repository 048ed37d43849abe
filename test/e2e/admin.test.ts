/**
 * End to end: the admin API (`/admin/v1`) and the users' own sessions (`/v1/sessions`) on a real fedproxy
 * server, with a real OpenID provider for the browser sign-ins. Demo user `adam` is in `fedproxy-admins`
 * (the configured admin group); `alice` and `dana` are not. An admin API token is configured by its hash.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { freePort } from '../support/net.js';
import {
  corpIdpConfig,
  signInThroughFedproxy,
  startTestIdp,
  type CookieJar,
  type TestIdp,
} from '../support/oidc-idp.js';

const ADMIN_TOKEN = 'fp-admin-test-token-0123456789abcdef';

const roles: ConfigInput['roles'] = [
  {
    name: 'reports-reader',
    policy: { Statement: [{ Effect: 'Allow', Action: 'reports:Get*', Resource: '*' }] },
  },
  {
    name: 'data-analyst',
    policy: {
      Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::analytics/*' }],
    },
  },
  {
    name: 'ci-deployer',
    policy: {
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/*' }],
    },
  },
];
const mappings: ConfigInput['mappings'] = [
  { group: 'engineers', roles: ['reports-reader'] },
  { group: 'data-analysts', roles: ['data-analyst'] },
  { group: 'ci-deployers', roles: ['ci-deployer'] },
];

interface Browser {
  jar: CookieJar;
  csrfToken: string;
  principal: string;
}
interface Credentials {
  AccessKeyId: string;
  SessionToken: string;
  sessionId: string;
}
interface SessionJson {
  sid: string;
  principal: string;
  role: string;
  issuedAt: number;
  policy?: string;
}
interface AuditJson {
  entries: { id: string; hash: string; event: Record<string, unknown> | null }[];
  cursor?: string;
}

/** A route of the running app: method and full path, mount prefixes included. */
interface RouteEntry {
  method: string;
  path: string;
}

interface StackLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: StackLayer[] };
  rawPath?: unknown;
}

/** Every route registered in an Express (router 2.x) stack, walking into mounted routers. */
function routesOf(stack: readonly StackLayer[], prefix = ''): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const path of ([] as string[]).concat(layer.route.path)) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all'))
          routes.push({ method: method.toUpperCase(), path: `${prefix}${path}` });
      }
    } else if (Array.isArray(layer.handle?.stack)) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      routes.push(...routesOf(layer.handle.stack, `${prefix}${mount}`));
    }
  }
  return routes;
}

describe('admin API and own sessions (real IdP, real server)', () => {
  let idp: TestIdp;
  let fedproxy: RunningServer;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({ redirectUris: [`${base}/auth/oidc/corp/callback`] });
    fedproxy = await startServer(
      testConfig({
        server: { listen: `127.0.0.1:${port}`, publicUrl: base },
        idps: [corpIdpConfig(idp)],
        roles,
        mappings,
        // Every mint is a new session, so listings have something to page through.
        credentials: { reuseWindowSeconds: 0 },
        admin: {
          groups: ['fedproxy-admins'],
          tokens: [{ name: 'ops-bot', sha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') }],
        },
      }),
      { processMetrics: false },
    );
  });
  afterAll(async () => {
    await fedproxy?.close();
    await idp?.close();
  });

  async function signedInBrowser(user: string): Promise<Browser> {
    const { jar, csrfToken } = await signInThroughFedproxy(base, idp, user);
    return { jar, csrfToken, principal: principalId({ issuer: idp.issuer, subject: idp.user(user).sub }) };
  }

  /** A same-origin browser request with the session's CSRF token (what the portal's script sends). */
  function fromBrowser(
    browser: Browser,
    method: string,
    path: string,
    options: { body?: unknown; csrf?: boolean } = {},
  ): Promise<Response> {
    const url = new URL(path, base);
    const headers: Record<string, string> = { cookie: browser.jar.header(url) };
    if (options.csrf ?? true) Object.assign(headers, { origin: base, 'x-csrf-token': browser.csrfToken });
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(url, {
      method,
      headers,
      redirect: 'manual',
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
  }

  function withToken(token: string, method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(new URL(path, base), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }
  const asAdminToken = (method: string, path: string, body?: unknown) =>
    withToken(ADMIN_TOKEN, method, path, body);

  async function mint(browser: Browser, role: string): Promise<Credentials> {
    const res = await fromBrowser(browser, 'POST', '/v1/credentials', { body: { role } });
    expect(res.status).toBe(200);
    return (await res.json()) as Credentials;
  }

  async function errorCode(res: Response): Promise<string> {
    return ((await res.json()) as { error: { code: string } }).error.code;
  }

  /** Reads the whole audit stream through the API, following cursors. */
  async function auditEvents(): Promise<Record<string, unknown>[]> {
    const events: Record<string, unknown>[] = [];
    let after: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await asAdminToken('GET', `/admin/v1/audit?limit=10${after ? `&after=${after}` : ''}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as AuditJson;
      for (const entry of body.entries) {
        expect(entry.id).toMatch(/^\d+-\d+$/);
        expect(entry.hash).toMatch(/\S/);
        if (entry.event) events.push(entry.event);
      }
      if (body.cursor === undefined) return events;
      after = body.cursor;
    }
    throw new Error('audit paging did not end');
  }

  describe('route-table walk', () => {
    /** Stand-ins for path parameters, and bodies that would be accepted if a route were left open. */
    const concrete = (path: string) => path.replace(/:(\w+)/g, 'no-such-$1');
    const bodyFor = (route: RouteEntry) =>
      ['GET', 'HEAD', 'DELETE'].includes(route.method) ? undefined : { scope: 'all', reason: 'walk' };

    function adminRouteTable(): RouteEntry[] {
      // The live app (the server's request listener), so routes mounted anywhere under /admin count.
      const app = fedproxy.server.listeners('request')[0] as unknown as { router: { stack: StackLayer[] } };
      return routesOf(app.router.stack).filter((route) => route.path.startsWith('/admin'));
    }

    it('finds the admin routes in the live route table', () => {
      const table = adminRouteTable().map((route) => `${route.method} ${route.path}`);
      expect(table).toEqual(
        expect.arrayContaining([
          'GET /admin/v1/sessions',
          'GET /admin/v1/sessions/:id',
          'POST /admin/v1/revocations',
          'GET /admin/v1/audit',
        ]),
      );
      expect(table.every((route) => route.includes(' /admin/v1/'))).toBe(true);
    });

    it('every admin route answers 401 without credentials and 403 to non-admins', async () => {
      const alice = await signedInBrowser('alice');
      const workloadToken = await idp.fetchWorkloadToken(); // groups [ci-deployers]: not an admin
      const table = adminRouteTable();
      expect(table.length).toBeGreaterThanOrEqual(4);
      for (const route of table) {
        const path = concrete(route.path);
        const body = bodyFor(route);
        const label = `${route.method} ${route.path}`;

        const anonymous = await fetch(new URL(path, base), {
          method: route.method,
          ...(body === undefined
            ? {}
            : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        });
        expect(anonymous.status, label).toBe(401);
        expect(await errorCode(anonymous), label).toBe('Unauthenticated');

        // With a valid CSRF token, so nothing but the admin check can refuse.
        const asAlice = await fromBrowser(alice, route.method, path, body === undefined ? {} : { body });
        expect(asAlice.status, label).toBe(403);
        expect(await errorCode(asAlice), label).toBe('AccessDenied');

        const asWorkload = await withToken(workloadToken, route.method, path, body);
        expect(asWorkload.status, label).toBe(403);
        expect(await errorCode(asWorkload), label).toBe('AccessDenied');
      }
    });

    it('a wrong admin token is refused with 401, and an unknown admin path too', async () => {
      const wrong = await withToken(`${ADMIN_TOKEN}x`, 'GET', '/admin/v1/sessions');
      expect(wrong.status).toBe(401);
      expect((await fetch(new URL('/admin/v1/no-such-route', base))).status).toBe(401);
      expect((await asAdminToken('GET', '/admin/v1/no-such-route')).status).toBe(404);
    });
  });

  it('the admin token and an admin-group session both get in; a cookie POST needs the CSRF defence', async () => {
    const byToken = await asAdminToken('GET', '/admin/v1/sessions');
    expect(byToken.status).toBe(200);
    expect(byToken.headers.get('cache-control')).toBe('no-store');

    const adam = await signedInBrowser('adam');
    expect((await fromBrowser(adam, 'GET', '/admin/v1/sessions', { csrf: false })).status).toBe(200);

    const dana = await signedInBrowser('dana');
    const { sessionId } = await mint(dana, 'data-analyst');
    const body = { scope: 'session', value: sessionId, reason: 'csrf check' };
    const noCsrf = await fromBrowser(adam, 'POST', '/admin/v1/revocations', { body, csrf: false });
    expect(noCsrf.status).toBe(403);
    const withCsrf = await fromBrowser(adam, 'POST', '/admin/v1/revocations', { body });
    expect(withCsrf.status).toBe(201);
  });

  it('lists by user and by role newest first, two pages through the cursor, policies only on request', async () => {
    const dana = await signedInBrowser('dana');
    const before = (await (
      await asAdminToken('GET', `/admin/v1/sessions?user=${dana.principal}&limit=100`)
    ).json()) as { sessions: SessionJson[] };
    const minted = [];
    for (let i = 0; i < 3; i++) minted.push((await mint(dana, 'data-analyst')).sessionId);
    const total = before.sessions.length + 3;

    for (const filter of [
      `user=${dana.principal}`,
      `issuer=${encodeURIComponent(idp.issuer)}&subject=${idp.user('dana').sub}`,
      'role=data-analyst',
    ]) {
      const pageSize = total - 1;
      const first = await asAdminToken('GET', `/admin/v1/sessions?${filter}&limit=${pageSize}`);
      expect(first.status, filter).toBe(200);
      const one = (await first.json()) as { sessions: SessionJson[]; cursor?: string };
      expect(one.sessions).toHaveLength(pageSize);
      expect(one.cursor, filter).toBeDefined();
      const second = (await (
        await asAdminToken(
          'GET',
          `/admin/v1/sessions?${filter}&limit=${pageSize}&cursor=${encodeURIComponent(one.cursor!)}`,
        )
      ).json()) as { sessions: SessionJson[]; cursor?: string };
      expect(second.sessions).toHaveLength(1);
      expect(second.cursor).toBeUndefined();

      const all = [...one.sessions, ...second.sessions];
      expect(new Set(all.map((s) => s.sid)).size).toBe(total);
      expect(all.every((s) => s.principal === dana.principal && s.role === 'data-analyst')).toBe(true);
      // Newest first: the three just minted lead, last minted first.
      expect(all.slice(0, 3).map((s) => s.sid)).toEqual([...minted].reverse());
      for (let i = 1; i < all.length; i++)
        expect(all[i - 1]!.issuedAt).toBeGreaterThanOrEqual(all[i]!.issuedAt);
      expect(all.some((s) => 'policy' in s || 'sessionPolicy' in s)).toBe(false);
    }

    const withPolicy = (await (
      await asAdminToken('GET', `/admin/v1/sessions?user=${dana.principal}&include=policy&limit=1`)
    ).json()) as { sessions: SessionJson[] };
    expect(JSON.parse(withPolicy.sessions[0]!.policy!)).toMatchObject({ Statement: expect.any(Array) });

    const one = await asAdminToken('GET', `/admin/v1/sessions/${minted[0]}`);
    expect(one.status).toBe(200);
    const { session } = (await one.json()) as { session: SessionJson };
    expect(session).toMatchObject({ sid: minted[0], principal: dana.principal });
    expect(session).not.toHaveProperty('policy');
    expect(JSON.stringify(session)).not.toMatch(/secret|SessionToken/i);
    expect((await asAdminToken('GET', '/admin/v1/sessions/no-such-session')).status).toBe(404);
  });

  it('revoking a user invalidates their credentials and is audited with the actor', async () => {
    const alice = await signedInBrowser('alice');
    const credentials = await mint(alice, 'reports-reader');
    await expect(
      fedproxy.services.verifier.verifySessionToken(credentials.SessionToken),
    ).resolves.toBeDefined();

    const res = await asAdminToken('POST', '/admin/v1/revocations', {
      scope: 'user',
      value: alice.principal,
      reason: 'laptop stolen',
    });
    expect(res.status).toBe(201);
    const done = (await res.json()) as { scope: string; issuedBefore: number; auditId: string };
    expect(done).toMatchObject({ scope: 'user', value: alice.principal, issuedBefore: expect.any(Number) });

    await expect(
      fedproxy.services.verifier.verifySessionToken(credentials.SessionToken),
    ).rejects.toMatchObject({
      status: 403,
    });

    const events = await auditEvents();
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'revocation',
        scope: 'user',
        value: alice.principal,
        reason: 'laptop stolen',
        actor: { tokenName: 'ops-bot' },
      }),
    );
    expect(JSON.stringify(events)).not.toContain(ADMIN_TOKEN);
  });

  it('revokes one session by id, leaving the user’s other sessions alone', async () => {
    const dana = await signedInBrowser('dana');
    const revoked = await mint(dana, 'data-analyst');
    const kept = await mint(dana, 'data-analyst');
    const adam = await signedInBrowser('adam');

    const res = await fromBrowser(adam, 'POST', '/admin/v1/revocations', {
      body: { scope: 'session', value: revoked.sessionId, reason: 'suspicious use' },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      scope: 'session',
      value: revoked.sessionId,
      revokedAt: expect.any(Number),
    });

    const { verifier } = fedproxy.services;
    await expect(verifier.verifySessionToken(revoked.SessionToken)).rejects.toMatchObject({ status: 403 });
    await expect(verifier.verifySessionToken(kept.SessionToken)).resolves.toBeDefined();

    const listed = (await (await asAdminToken('GET', `/admin/v1/sessions/${revoked.sessionId}`)).json()) as {
      session: { revokedAt?: number };
    };
    expect(listed.session.revokedAt).toEqual(expect.any(Number));
    expect(await auditEvents()).toContainEqual(
      expect.objectContaining({
        type: 'revocation',
        scope: 'session',
        value: revoked.sessionId,
        actor: { principal: adam.principal, username: 'adam', idp: 'corp' },
      }),
    );

    const unknown = await asAdminToken('POST', '/admin/v1/revocations', {
      scope: 'session',
      value: 'no-such-session',
      reason: 'typo',
    });
    expect(unknown.status).toBe(404);
  });

  describe('own sessions (/v1/sessions)', () => {
    it('shows only the caller’s own sessions', async () => {
      const alice = await signedInBrowser('alice');
      const dana = await signedInBrowser('dana');
      const mine = await mint(alice, 'reports-reader');
      await mint(dana, 'data-analyst');
      const res = await fromBrowser(alice, 'GET', '/v1/sessions', { csrf: false });
      expect(res.status).toBe(200);
      const { sessions } = (await res.json()) as { sessions: SessionJson[] };
      expect(sessions.map((s) => s.sid)).toContain(mine.sessionId);
      expect(sessions.every((s) => s.principal === alice.principal)).toBe(true);
      expect((await fetch(new URL('/v1/sessions', base))).status).toBe(401);
    });

    it('revokes the caller’s own session (with CSRF), and answers 404 for anyone else’s', async () => {
      const alice = await signedInBrowser('alice');
      const dana = await signedInBrowser('dana');
      const own = await mint(alice, 'reports-reader');
      const danas = await mint(dana, 'data-analyst');
      const { verifier } = fedproxy.services;

      const others = await fromBrowser(alice, 'DELETE', `/v1/sessions/${danas.sessionId}`);
      expect(others.status).toBe(404);
      const missing = await fromBrowser(alice, 'DELETE', '/v1/sessions/no-such-session');
      expect(missing.status).toBe(404);
      // Same answer for both: nothing tells alice that dana's session exists.
      expect(await errorCode(others)).toBe(await errorCode(missing));
      await expect(verifier.verifySessionToken(danas.SessionToken)).resolves.toBeDefined();

      const noCsrf = await fromBrowser(alice, 'DELETE', `/v1/sessions/${own.sessionId}`, { csrf: false });
      expect(noCsrf.status).toBe(403);
      const res = await fromBrowser(alice, 'DELETE', `/v1/sessions/${own.sessionId}`);
      expect(res.status).toBe(200);
      await expect(verifier.verifySessionToken(own.SessionToken)).rejects.toMatchObject({ status: 403 });
      expect(await auditEvents()).toContainEqual(
        expect.objectContaining({
          type: 'revocation',
          scope: 'session',
          value: own.sessionId,
          actor: expect.objectContaining({ principal: alice.principal }),
        }),
      );
    });
  });

  describe('input validation', () => {
    it('rejects unknown body fields and malformed revocations with 400 ValidationError', async () => {
      for (const body of [
        { scope: 'all', reason: 'x', extra: true },
        { scope: 'principal', value: 'p', reason: 'x' },
        { scope: 'user', reason: 'x' },
        { scope: 'all', value: 'x', reason: 'x' },
        { scope: 'all' },
        { scope: 'role', value: 'r', reason: 'x', issuedBefore: 'yesterday' },
        { scope: 'role', value: 'r', reason: 'x', issuedBefore: Date.now() + 60_000 },
        { scope: 'session', value: 's', reason: 'x', issuedBefore: 1 },
      ]) {
        const res = await asAdminToken('POST', '/admin/v1/revocations', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(await errorCode(res)).toBe('ValidationError');
      }
    });

    it('accepts issuedBefore as ISO 8601 or epoch milliseconds', async () => {
      const iso = new Date(Date.now() - 60_000).toISOString();
      const res = await asAdminToken('POST', '/admin/v1/revocations', {
        scope: 'role',
        value: 'no-such-role',
        issuedBefore: iso,
        reason: 'iso time',
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ issuedBefore: Date.parse(iso) });
      const ms = await asAdminToken('POST', '/admin/v1/revocations', {
        scope: 'group',
        value: 'no-such-group',
        issuedBefore: Date.parse(iso),
        reason: 'ms time',
      });
      expect(ms.status).toBe(201);
    });

    it('rejects bad listing queries: limits, cursors, unknown parameters, two filters', async () => {
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=ten',
        'cursor=not-a-cursor',
        'colour=blue',
        'role=a&group=b',
        'issuer=https%3A%2F%2Fidp',
        'include=secrets',
      ]) {
        const res = await asAdminToken('GET', `/admin/v1/sessions?${query}`);
        expect(res.status, query).toBe(400);
        expect(await errorCode(res)).toBe('ValidationError');
      }
      expect((await asAdminToken('GET', '/admin/v1/audit?after=nope')).status).toBe(400);
      expect((await asAdminToken('GET', '/admin/v1/audit?limit=101')).status).toBe(400);
      const alice = await signedInBrowser('alice');
      expect((await fromBrowser(alice, 'GET', '/v1/sessions?cursor=bad', { csrf: false })).status).toBe(400);
    });
  });

  describe('roles and mappings as data', () => {
    async function read(
      what: 'roles' | 'mappings',
    ): Promise<{ etag: string; body: Record<string, unknown> }> {
      const res = await asAdminToken('GET', `/admin/v1/${what}`);
      expect(res.status).toBe(200);
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"\d+"$/);
      return { etag, body: (await res.json()) as Record<string, unknown> };
    }

    function withIfMatch(method: string, path: string, ifMatch: string | undefined, body?: unknown) {
      return fetch(new URL(path, base), {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    }

    const reader = {
      description: 'reads one team folder',
      policy: {
        Statement: [
          { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::teams/${oidc:team}/*' },
        ],
      },
    };

    it('the new routes are in the route table, behind the guard', () => {
      const app = fedproxy.server.listeners('request')[0] as unknown as { router: { stack: StackLayer[] } };
      const table = routesOf(app.router.stack).map((route) => `${route.method} ${route.path}`);
      expect(table).toEqual(
        expect.arrayContaining([
          'GET /admin/v1/roles',
          'GET /admin/v1/mappings',
          'PUT /admin/v1/roles/:name',
          'DELETE /admin/v1/roles/:name',
          'PUT /admin/v1/mappings',
          'POST /admin/v1/explain',
        ]),
      );
    });

    it('reads roles and mappings with an ETag; a write needs If-Match (428 without, 400 malformed)', async () => {
      const roles = await read('roles');
      expect((roles.body.roles as { name: string }[]).map((r) => r.name)).toEqual(
        expect.arrayContaining(['reports-reader', 'data-analyst', 'ci-deployer']),
      );
      const mappingsRead = await read('mappings');
      expect(mappingsRead.etag).toBe(roles.etag);
      expect(mappingsRead.body.mappings).toEqual(mappings);

      const missing = await withIfMatch('PUT', '/admin/v1/roles/team-reader', undefined, reader);
      expect(missing.status).toBe(428);
      expect(await errorCode(missing)).toBe('PreconditionRequired');
      expect((await withIfMatch('PUT', '/admin/v1/mappings', undefined, { mappings })).status).toBe(428);
      expect((await withIfMatch('DELETE', '/admin/v1/roles/team-reader', undefined)).status).toBe(428);
      expect((await withIfMatch('PUT', '/admin/v1/roles/team-reader', 'yesterday', reader)).status).toBe(400);
    });

    it('rejects unknown fields, a name in the body, and mappings naming unknown roles', async () => {
      const { etag } = await read('roles');
      for (const body of [
        { ...reader, colour: 'blue' },
        { ...reader, name: 'other' },
        { policy: { Statement: [{ Effect: 'Allow', Action: '*', Resource: '${fed:nope}' }] } },
      ]) {
        const res = await withIfMatch('PUT', '/admin/v1/roles/team-reader', etag, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(await errorCode(res)).toBe('ValidationError');
      }
      for (const body of [
        { mappings: [{ group: 'x', roles: ['no-such-role'] }] },
        { mappings: [{ group: 'x', roles: ['reports-reader'], extra: 1 }] },
        { mappings, extra: 1 },
        { mappings: [{ idp: 'elsewhere', group: 'x', roles: ['reports-reader'] }] },
      ]) {
        const res = await withIfMatch('PUT', '/admin/v1/mappings', etag, body);
        expect(res.status, JSON.stringify(body)).toBe(400);
      }
      expect((await read('roles')).etag).toBe(etag);
    });

    it('two concurrent edits with the same If-Match: one 200, one 412', async () => {
      const { etag } = await read('roles');
      const answers = await Promise.all(
        ['one', 'two'].map((text) =>
          withIfMatch('PUT', '/admin/v1/roles/concurrent-edit', etag, { ...reader, description: text }),
        ),
      );
      expect(answers.map((res) => res.status).sort()).toEqual([200, 412]);
      const winner = answers.find((res) => res.status === 200)!;
      const loser = answers.find((res) => res.status === 412)!;
      expect(await errorCode(loser)).toBe('PreconditionFailed');
      const newEtag = winner.headers.get('etag');
      expect(newEtag).not.toBe(etag);
      expect((await read('roles')).etag).toBe(newEtag);
      // A stale If-Match is refused the same way.
      expect((await withIfMatch('DELETE', '/admin/v1/roles/concurrent-edit', etag)).status).toBe(412);
      expect((await withIfMatch('DELETE', '/admin/v1/roles/concurrent-edit', newEtag!)).status).toBe(200);
    });

    it('a new mapping takes effect for credentials at once; a mapped role cannot be deleted (409)', async () => {
      const alice = await signedInBrowser('alice'); // engineers
      const refused = await fromBrowser(alice, 'POST', '/v1/credentials', { body: { role: 'ci-deployer' } });
      expect(refused.status).toBe(403);

      const { etag } = await read('mappings');
      const granted = [...mappings, { group: 'engineers', roles: ['ci-deployer'] }];
      const put = await withIfMatch('PUT', '/admin/v1/mappings', etag, { mappings: granted });
      expect(put.status).toBe(200);
      const afterPut = put.headers.get('etag')!;
      try {
        await mint(alice, 'ci-deployer');
        const inUse = await withIfMatch('DELETE', '/admin/v1/roles/ci-deployer', afterPut);
        expect(inUse.status).toBe(409);
        expect(await errorCode(inUse)).toBe('Conflict');
      } finally {
        const restore = await withIfMatch('PUT', '/admin/v1/mappings', afterPut, { mappings });
        expect(restore.status).toBe(200);
      }
      expect(
        (await fromBrowser(alice, 'POST', '/v1/credentials', { body: { role: 'ci-deployer' } })).status,
      ).toBe(403);

      const adam = await signedInBrowser('adam');
      expect(await auditEvents()).toContainEqual(
        expect.objectContaining({
          type: 'admin.change',
          resource: 'mappings',
          action: 'update',
          version: Number(JSON.parse(afterPut)),
          actor: { tokenName: 'ops-bot' },
        }),
      );
      // A person acting through a login session is recorded by principal.
      const { etag: current } = await read('roles');
      const byAdam = await fetch(new URL('/admin/v1/roles/adam-made', base), {
        method: 'PUT',
        headers: {
          cookie: adam.jar.header(new URL(base)),
          origin: base,
          'x-csrf-token': adam.csrfToken,
          'if-match': current,
          'content-type': 'application/json',
        },
        body: JSON.stringify(reader),
      });
      expect(byAdam.status).toBe(200);
      expect(await auditEvents()).toContainEqual(
        expect.objectContaining({
          type: 'admin.change',
          resource: 'roles',
          action: 'create',
          name: 'adam-made',
          actor: { principal: adam.principal, username: 'adam', idp: 'corp' },
        }),
      );
    });

    it('explain shows each role with the mapping and group that gave it, its rendered policy, and why not', async () => {
      const { etag } = await read('roles');
      const put = await withIfMatch('PUT', '/admin/v1/roles/team-reader', etag, reader);
      expect(put.status).toBe(200);
      const maps = await withIfMatch('PUT', '/admin/v1/mappings', put.headers.get('etag')!, {
        mappings: [...mappings, { group: 'engineers', roles: ['team-reader'] }],
      });
      expect(maps.status).toBe(200);
      const identity = {
        idp: 'corp',
        issuer: idp.issuer,
        subject: 'alice-sub',
        username: 'alice',
        groups: ['engineers'],
        attributes: { team: 'payments' },
      };
      const res = await asAdminToken('POST', '/admin/v1/explain', {
        identity,
        roles: ['reports-reader', 'team-reader', 'data-analyst', 'no-such-role'],
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        granted: { role: string; grantedBy: unknown[]; policy?: unknown; renderError?: string }[];
        denied: { role: string; reasons: string[] }[];
      };
      expect(body.granted).toEqual([
        expect.objectContaining({
          role: 'reports-reader',
          grantedBy: [{ mappingIndex: 0, group: 'engineers' }],
          policy: expect.objectContaining({ Statement: expect.any(Array) }),
        }),
        expect.objectContaining({
          role: 'team-reader',
          grantedBy: [{ mappingIndex: 3, group: 'engineers' }],
          policy: expect.objectContaining({
            Statement: [expect.objectContaining({ Resource: 'arn:aws:s3:::teams/payments/*' })],
          }),
        }),
      ]);
      expect(body.denied).toEqual([
        {
          role: 'data-analyst',
          reasons: [
            'mapping 1 gives this role to group "data-analysts", which the identity is not in',
            'no mapping gives group "engineers" this role',
          ],
        },
        { role: 'no-such-role', reasons: ['no role named "no-such-role" exists'] },
      ]);

      // Without the attribute the template cannot render: the error, not a policy.
      const noTeam = await asAdminToken('POST', '/admin/v1/explain', {
        identity: { ...identity, attributes: {} },
        role: 'team-reader',
      });
      const [only] = ((await noTeam.json()) as typeof body).granted;
      expect(only).toMatchObject({ role: 'team-reader', renderError: expect.any(String) });
      expect(only).not.toHaveProperty('policy');

      const unknownField = await asAdminToken('POST', '/admin/v1/explain', { identity, extra: true });
      expect(unknownField.status).toBe(400);

      const restore = await withIfMatch('PUT', '/admin/v1/mappings', maps.headers.get('etag')!, { mappings });
      expect(restore.status).toBe(200);
    });
  });

  it('POST /logout with revokeCredentials revokes every session of the caller', async () => {
    const dana = await signedInBrowser('dana');
    const first = await mint(dana, 'data-analyst');
    const second = await mint(dana, 'data-analyst');
    const res = await fromBrowser(dana, 'POST', '/logout', { body: { revokeCredentials: true } });
    expect(res.status).toBe(303);
    const { verifier } = fedproxy.services;
    for (const credentials of [first, second])
      await expect(verifier.verifySessionToken(credentials.SessionToken)).rejects.toMatchObject({
        status: 403,
      });
    expect(await auditEvents()).toContainEqual(
      expect.objectContaining({ type: 'revocation', scope: 'user', value: dana.principal, reason: 'logout' }),
    );
  });
});
