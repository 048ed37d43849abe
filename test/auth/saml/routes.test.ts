/**
 * The SAML routes at the HTTP edge (an Express app with only these routes and the error handler): the
 * redirect to the IdP, the ACS (login session cookie, failure page, 413, logs without the response), and
 * the metadata document.
 */
import express from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/index.js';
import { LoginSessions } from '../../../src/auth/login-session.js';
import { systemClock } from '../../../src/clock.js';
import { cookieSettings } from '../../../src/http/authenticate.js';
import { handleErrors } from '../../../src/http/errors.js';
import { samlRoutes } from '../../../src/http/saml.js';
import { PortalViews } from '../../../src/http/views.js';
import { capturingLogger } from '../../support/app.js';
import { memoryStoreKind } from '../../support/stores.js';
import {
  PUBLIC_URL,
  samlFixtures,
  samlTestKeys,
  testServiceProvider,
  type SamlTestKeys,
} from './fixtures.js';

let keys: SamlTestKeys;
beforeAll(async () => {
  keys = await samlTestKeys();
});

async function samlApp(config: Record<string, unknown> = {}) {
  const store = memoryStoreKind().make(systemClock);
  const { sp } = await testServiceProvider(keys, { config, store });
  const { logger, lines } = capturingLogger();
  const loginSessions = new LoginSessions(store, systemClock, {
    idleTimeoutMs: 3600_000,
    absoluteTimeoutMs: 43_200_000,
  });
  const cookies = cookieSettings(PUBLIC_URL);
  const app = express();
  app.use(
    samlRoutes({
      serviceProviders: new Map([[sp.idp.id, sp]]),
      loginSessions,
      cookies,
      sessionTtlMs: 43_200_000,
      limits: { signIn: (_req, _res, next) => next() },
      views: new PortalViews({ productName: 'fedproxy', devMode: false }),
      logger,
      audit: new AuditLog({ store, logger }),
    }),
  );
  app.use(handleErrors(logger));
  return { app, sp, lines, loginSessions, cookies };
}

/** The value of the session cookie set by a response. */
function sessionCookieOf(setCookie: string[] | string | undefined, name: string): string | undefined {
  const lines = Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie];
  return lines
    .find((line) => line.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
}

describe('GET /auth/saml/:idp/login', () => {
  it('redirects (303, no-store) to the IdP with an AuthnRequest; unknown IdPs are 404', async () => {
    const { app } = await samlApp();
    const res = await request(app).get('/auth/saml/corp/login?returnTo=/reports');
    expect(res.status).toBe(303);
    expect(res.headers['cache-control']).toBe('no-store');
    const location = new URL(res.headers.location!);
    expect(location.href.startsWith(keys.idp.ssoUrl)).toBe(true);
    expect(location.searchParams.get('SAMLRequest')).toBeTruthy();
    expect((await request(app).get('/auth/saml/nope/login')).status).toBe(404);
  });
});

describe('POST /auth/saml/:idp/acs', () => {
  /** Starts a sign-in; the fixtures answer its request, `binding` is the browser-binding cookie it set. */
  async function startedIn(app: express.Express, returnTo = '/reports') {
    const start = await request(app).get(`/auth/saml/corp/login?returnTo=${encodeURIComponent(returnTo)}`);
    const { id } = await keys.idp.authnRequestFrom(new URL(start.headers.location!));
    const setCookie = (start.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
    const bindingLine = setCookie.find((line) => line.startsWith('__Host-fp_saml_binding='));
    expect(bindingLine).toMatch(/HttpOnly/);
    expect(bindingLine).toMatch(/Secure/);
    expect(bindingLine).toMatch(/SameSite=None/);
    const binding = bindingLine!.split(';')[0]!;
    return Object.assign(samlFixtures(keys, { inResponseTo: id }), { binding });
  }

  it('refuses a response posted by a browser that did not start the sign-in (login CSRF)', async () => {
    const { app } = await samlApp();
    const fixtures = await startedIn(app);
    const res = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({ SAMLResponse: await fixtures.responseUnsignedAssertionSigned() });
    expect(res.status).not.toBe(303);
    expect(res.text).toContain('another browser');
  });

  it('starts a login session (HttpOnly, Secure, SameSite=Lax cookie) and returns to where the user was going', async () => {
    const { app, loginSessions, cookies } = await samlApp();
    const fixtures = await startedIn(app);
    const res = await request(app)
      .post('/auth/saml/corp/acs')
      .set('Cookie', fixtures.binding)
      .type('form')
      .send({ SAMLResponse: await fixtures.responseUnsignedAssertionSigned(), RelayState: '//evil.example' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/reports');
    const setCookie = res.headers['set-cookie'] as unknown as string[];
    const line = setCookie.find((l) => l.startsWith(`${cookies.sessionCookie}=`))!;
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/Secure/);
    expect(line).toMatch(/SameSite=Lax/);
    const session = await loginSessions.get(sessionCookieOf(setCookie, cookies.sessionCookie)!);
    expect(session?.identity).toMatchObject({ protocol: 'saml', subject: 'alice', groups: ['engineers'] });
  });

  it('replaces a login session whose cookie came along', async () => {
    const { app, loginSessions, cookies } = await samlApp();
    const earlier = await loginSessions.create({
      idp: 'corp',
      protocol: 'saml',
      issuer: keys.idp.entityId,
      subject: 'mallory',
      username: 'mallory',
      groups: [],
      attributes: {},
      authTime: Date.now(),
    });
    const fixtures = await startedIn(app);
    const res = await request(app)
      .post('/auth/saml/corp/acs')
      .set('Cookie', `${cookies.sessionCookie}=${earlier.id}; ${fixtures.binding}`)
      .type('form')
      .send({ SAMLResponse: await fixtures.responseUnsignedAssertionSigned() });
    expect(res.status).toBe(303);
    expect(await loginSessions.get(earlier.id)).toBeNull();
  });

  it('shows the failure page for a refused response and logs the reason, never the response', async () => {
    const { app, lines } = await samlApp();
    const fixtures = await startedIn(app);
    const samlResponse = await fixtures.wrongRecipient();
    const res = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({ SAMLResponse: samlResponse });
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('Sign-in failed');
    expect(res.text).toContain('response is not valid');
    expect(res.headers['set-cookie']).toBeUndefined();
    const failure = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.event === 'signin.failed');
    expect(failure).toMatchObject({
      idp: 'corp',
      check: 'recipient',
      reason: expect.stringMatching(/Recipient/),
    });
    const logged = lines.join('\n');
    expect(logged).not.toContain(samlResponse.slice(0, 40));
    expect(logged).not.toContain(samlResponse.slice(-40));
  });

  it('answers 413 with the failure page for an oversized body, before parsing it', async () => {
    const { app, lines } = await samlApp({ maxResponseBytes: 8 * 1024 });
    const huge = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({ SAMLResponse: 'A'.repeat(64 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.text).toContain('too large');
    const justOver = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({ SAMLResponse: 'A'.repeat(9 * 1024) });
    expect(justOver.status).toBe(413);
    expect(lines.filter((l) => l.includes('"check":"size"'))).toHaveLength(2);
  });

  it('refuses a form without SAMLResponse', async () => {
    const { app } = await samlApp();
    const res = await request(app).post('/auth/saml/corp/acs').type('form').send({ RelayState: '/' });
    expect(res.status).toBe(401);
    expect(res.text).toContain('Sign-in failed');
  });

  it('sends an accepted unsolicited sign-in to a same-site RelayState only', async () => {
    const { app } = await samlApp({ allowIdpInitiated: true });
    const unsolicited = samlFixtures(keys);
    const safe = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({ SAMLResponse: await unsolicited.responseUnsignedAssertionSigned(), RelayState: '/reports' });
    expect(safe.headers.location).toBe('/reports');
    const unsafe = await request(app)
      .post('/auth/saml/corp/acs')
      .type('form')
      .send({
        SAMLResponse: await unsolicited.responseUnsignedAssertionSigned(),
        RelayState: 'https://evil.example/',
      });
    expect(unsafe.headers.location).toBe('/');
  });
});

describe('GET /auth/saml/:idp/metadata', () => {
  it('serves the SP metadata as application/samlmetadata+xml', async () => {
    const { app, sp } = await samlApp();
    const res = await request(app).get('/auth/saml/corp/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/samlmetadata\+xml/);
    expect(res.text).toContain(`Location="${sp.acsUrl}"`);
  });
});
