/**
 * Security decisions at the HTTP edge, each pinned by a test that fails when that decision alone is
 * undone: the client address the rate limits count, failing closed when the rate counters cannot be
 * asked, the generic message of server errors, `__Host-` cookies over HTTPS, and `no-store` on
 * credential answers. Memory stores (one per app) and the real test OpenID provider.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServices, createApp, type BuildOptions, type Services } from '../../src/app.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { capturingLogger, testConfig } from '../support/app.js';
import { corpIdpConfig, startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const ACCOUNT = '123456789012';
const HTTPS_PUBLIC_URL = 'https://fedproxy.example.test';
/** testConfig's publicUrl when none is given. */
const HTTP_PUBLIC_URL = 'http://127.0.0.1';
const CALLBACK_PATH = '/auth/oidc/corp/callback';

/** Workload tokens of the test IdP carry the group `ci-deployers`, which maps to this role. */
const roles: ConfigInput['roles'] = [
  {
    name: 'ci-deployer',
    policy: {
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/*' }],
    },
  },
];
const mappings: ConfigInput['mappings'] = [{ group: 'ci-deployers', roles: ['ci-deployer'] }];

function memoryStore(): Store {
  return createStore(
    { type: 'memory', redis: { url: '', keyPrefix: 'fp:', commandTimeoutMs: 2000 }, auditMaxLength: 1000 },
    {},
  );
}

interface SetCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased; flags (Secure, HttpOnly) map to ''. */
  attributes: Map<string, string>;
}

function setCookies(res: { headers: Record<string, unknown> }): SetCookie[] {
  const lines = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  return lines.map((line) => {
    const [pair = '', ...parts] = line.split(';').map((part) => part.trim());
    const eq = pair.indexOf('=');
    const attributes = new Map(
      parts.map((part) => {
        const at = part.indexOf('=');
        return at < 0 ? [part.toLowerCase(), ''] : [part.slice(0, at).toLowerCase(), part.slice(at + 1)];
      }),
    );
    return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
  });
}

describe('security decisions at the HTTP edge', () => {
  let idp: TestIdp;
  const built: Services[] = [];

  beforeAll(async () => {
    idp = await startTestIdp({
      redirectUris: [`${HTTPS_PUBLIC_URL}${CALLBACK_PATH}`, `${HTTP_PUBLIC_URL}${CALLBACK_PATH}`],
    });
  });
  afterAll(async () => {
    for (const services of built) await services.store.close();
    await idp?.close();
  });

  /** An app on its own memory store (unless one is given), with the test IdP as `corp`. */
  async function appWith(overrides: ConfigInput = {}, options: BuildOptions = {}) {
    const services = await buildServices(
      testConfig({ accountId: ACCOUNT, idps: [corpIdpConfig(idp)], roles, mappings, ...overrides }),
      { processMetrics: false, ...options },
    );
    built.push(services);
    return { services, app: createApp(services) };
  }

  describe('trust proxy: the client address is the connection, not X-Forwarded-For (server.trustProxy: false)', () => {
    /** Unauthenticated credential requests, each claiming another client address; the answers. */
    async function forgedStatuses(app: ReturnType<typeof createApp>, count: number) {
      const answers = [];
      for (let i = 1; i <= count; i++) {
        answers.push(
          await request(app)
            .post('/v1/credentials')
            .set('X-Forwarded-For', `203.0.113.${i}`)
            .send({ role: 'ci-deployer' }),
        );
      }
      return answers;
    }

    it('counts requests with a different forged X-Forwarded-For each time against one address: the third is 429', async () => {
      const { app } = await appWith({ rateLimits: { mintPerMinutePerIp: 2 } });
      // express-rate-limit warns (console.error) about X-Forwarded-For without trust proxy: the very case.
      const warned = vi.spyOn(console, 'error').mockImplementation(() => {});
      const answers = await forgedStatuses(app, 3).finally(() => warned.mockRestore());
      // The per-address limit runs before authentication, so unauthenticated requests count too.
      expect(answers.map((res) => res.status)).toEqual([401, 401, 429]);
      expect(answers[2]!.body.error).toMatchObject({ code: 'Throttling', message: 'Rate exceeded' });
      expect(answers[2]!.headers['retry-after']).toBeDefined();
    });

    it('counts the forwarded address only when a proxy hop is trusted (server.trustProxy: 1)', async () => {
      const { app } = await appWith({
        server: { listen: '127.0.0.1:0', trustProxy: 1 },
        rateLimits: { mintPerMinutePerIp: 2 },
      });
      const answers = await forgedStatuses(app, 3);
      expect(answers.map((res) => res.status)).toEqual([401, 401, 401]);
    });
  });

  describe('rate counters that cannot be asked close the gate (passOnStoreError: false)', () => {
    it('refuses with 503 a request that mints once the rate counter store answers again', async () => {
      const store = memoryStore();
      const { app } = await appWith({}, { store });
      const token = await idp.fetchWorkloadToken();
      const mint = () =>
        request(app)
          .post('/v1/credentials')
          .set('Authorization', `Bearer ${token}`)
          .send({ role: 'ci-deployer' });
      const create = vi.spyOn(store.sessions, 'create');
      const increment = vi
        .spyOn(store.rateCounters, 'increment')
        .mockRejectedValue(new StoreUnavailableError('rate counters unreachable'));

      const refused = await mint();
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('ServiceUnavailable');
      expect(refused.body).not.toHaveProperty('AccessKeyId');
      expect(create).not.toHaveBeenCalled();

      increment.mockRestore();
      const minted = await mint();
      expect(minted.status).toBe(200);
      expect(minted.body.AccessKeyId).toMatch(/^ASIA/);
    });
  });

  describe('server errors answer a generic message; the details go to the log', () => {
    const internal = 'ECONNRESET from redis-primary.internal.corp:6379 (auth user fedproxy-prod)';
    /** A well-formed login-session cookie, so GET /v1/me asks the store for it (no rate limiter on the way). */
    const sessionCookie = `fp_session=${'a'.repeat(43)}`;

    it('answers an unexpected plain Error with 500 "Internal error", not its own message', async () => {
      const { logger, lines } = capturingLogger('error');
      const store = memoryStore();
      const { app } = await appWith({}, { store, logger });
      vi.spyOn(store.loginSessions, 'get').mockRejectedValue(new Error(internal));

      const res = await request(app).get('/v1/me').set('Cookie', sessionCookie);
      expect(res.status).toBe(500);
      expect(res.body.error).toMatchObject({ code: 'InternalError', message: 'Internal error' });
      expect(res.text).not.toContain('redis-primary');
      expect(lines.join('\n')).toContain(internal);
    });

    it('answers a server-side AppError (503, not exposed) with the generic message, not its own', async () => {
      const store = memoryStore();
      const { app } = await appWith({}, { store });
      vi.spyOn(store.loginSessions, 'get').mockRejectedValue(new StoreUnavailableError(internal));

      const res = await request(app).get('/v1/me').set('Cookie', sessionCookie);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'ServiceUnavailable', message: 'Internal error' });
      expect(res.text).not.toContain('redis-primary');
    });
  });

  describe('cookie names: __Host- over HTTPS, plain on loopback HTTP', () => {
    /** Starts and finishes an OIDC browser sign-in of alice; the binding and login-session cookies set. */
    async function signInCookies(app: ReturnType<typeof createApp>, publicUrl: string) {
      const start = await request(app).get('/auth/oidc/corp/login').expect(303);
      const [binding] = setCookies(start);
      const callback = await idp.signIn(new URL(start.headers.location!), 'alice');
      expect(callback.href.startsWith(`${publicUrl}${CALLBACK_PATH}?`)).toBe(true);
      const done = await request(app)
        .get(`${callback.pathname}${callback.search}`)
        .set('Cookie', `${binding!.name}=${binding!.value}`)
        .expect(303);
      const session = setCookies(done).find((cookie) => cookie.value !== '');
      return { binding: binding!, session: session! };
    }

    it('over an https publicUrl names the binding and login-session cookies __Host-, Secure, Path=/, no Domain', async () => {
      const { app } = await appWith({ server: { listen: '127.0.0.1:0', publicUrl: HTTPS_PUBLIC_URL } });
      const { binding, session } = await signInCookies(app, HTTPS_PUBLIC_URL);
      expect(binding.name).toBe('__Host-fp_oidc_binding');
      expect(session.name).toBe('__Host-fp_session');
      for (const cookie of [binding, session]) {
        expect(cookie.attributes.has('secure')).toBe(true);
        expect(cookie.attributes.get('path')).toBe('/');
        expect(cookie.attributes.has('domain')).toBe(false);
        expect(cookie.attributes.has('httponly')).toBe(true);
      }
      // The prefixed cookie is the one the app reads back.
      await request(app).get('/v1/me').set('Cookie', `${session.name}=${session.value}`).expect(200);
    });

    it('over http on loopback names them fp_oidc_binding and fp_session, without Secure', async () => {
      const { app } = await appWith();
      const { binding, session } = await signInCookies(app, HTTP_PUBLIC_URL);
      expect(binding.name).toBe('fp_oidc_binding');
      expect(session.name).toBe('fp_session');
      for (const cookie of [binding, session]) {
        expect(cookie.attributes.has('secure')).toBe(false);
        expect(cookie.attributes.get('path')).toBe('/');
      }
    });
  });

  describe('credential answers are not cached', () => {
    it('POST /v1/credentials, GET /v1/container-credentials/:role and AssumeRoleWithWebIdentity answer no-store', async () => {
      const { app } = await appWith();
      const token = await idp.fetchWorkloadToken();

      const minted = await request(app)
        .post('/v1/credentials')
        .set('Authorization', `Bearer ${token}`)
        .send({ role: 'ci-deployer' })
        .expect(200);
      expect(minted.body.SecretAccessKey).toBeTruthy();
      expect(minted.headers['cache-control']).toBe('no-store');

      const container = await request(app)
        .get('/v1/container-credentials/ci-deployer')
        .set('Authorization', token)
        .expect(200);
      expect(container.body.SecretAccessKey).toBeTruthy();
      expect(container.headers['cache-control']).toBe('no-store');

      const sts = await request(app)
        .post('/sts')
        .type('form')
        .send({
          Action: 'AssumeRoleWithWebIdentity',
          Version: '2011-06-15',
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/ci-deployer`,
          RoleSessionName: 'pipeline-1',
          WebIdentityToken: token,
        })
        .expect(200);
      expect(sts.text).toContain('<SecretAccessKey>');
      expect(sts.headers['cache-control']).toBe('no-store');
    });
  });
});
