/**
 * End to end against a real fedproxy server with a SAML IdP configured: the browser (a cookie jar) starts
 * an SP-initiated sign-in, the test IdP (xml-crypto, certificates generated here) answers the AuthnRequest
 * it was sent with a signed response, the browser posts it to the ACS, and the login session then works
 * for the portal, /v1/me and /v1/credentials exactly as after an OIDC sign-in.
 */
import { AssumeRoleWithSAMLCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { freePort } from '../support/net.js';
import { browserFetch, CookieJar } from '../support/oidc-idp.js';
import { encodeResponse, TestSamlIdp, type ResponseOptions } from '../support/saml-idp.js';

const GROUPS = 'http://schemas.xmlsoap.org/claims/Group';
const EMAIL = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';

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
        { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::dept/${saml:department}/*' },
      ],
    },
  },
];
const mappings: ConfigInput['mappings'] = [
  { idp: 'adfs', group: 'engineers', roles: ['reports-reader'] },
  { idp: 'adfs', group: 'data-analysts', roles: ['data-analyst'] },
];

describe('SAML 2.0 sign-in (real server, test IdP)', () => {
  let idp: TestSamlIdp;
  let fedproxy: RunningServer;
  let base: string;

  beforeAll(async () => {
    idp = await TestSamlIdp.create({ entityId: 'https://adfs.corp.example/adfs/services/trust' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    fedproxy = await startServer(
      testConfig({
        server: { listen: `127.0.0.1:${port}`, publicUrl: base },
        idps: [
          {
            id: 'adfs',
            type: 'saml',
            displayName: 'AD FS',
            entityId: idp.entityId,
            entryPoint: idp.ssoUrl,
            certificates: [idp.keys.certificate],
            attributes: { groups: GROUPS, email: EMAIL },
            bindCredentialsToToken: true,
          },
        ],
        roles,
        mappings,
      }),
      { processMetrics: false },
    );
  });
  afterAll(async () => {
    await fedproxy?.close();
  });

  /**
   * What the IdP does with the AuthnRequest the browser brought: signs in the user and builds the
   * response for the ACS URL and request id the request named.
   */
  async function idpAnswers(authnRequestUrl: URL, overrides: Partial<ResponseOptions> = {}): Promise<string> {
    const request = await idp.authnRequestFrom(authnRequestUrl);
    expect(request.acsUrl).toBe(`${base}/auth/saml/adfs/acs`);
    return encodeResponse(
      await idp.response({
        destination: request.acsUrl!,
        audience: request.issuer,
        inResponseTo: request.id,
        nameId: 'S-1-5-21-1004',
        attributes: { [GROUPS]: 'engineers', [EMAIL]: 'alice@corp.example', department: 'research' },
        ...overrides,
      }),
    );
  }

  async function signedInBrowser(overrides: Partial<ResponseOptions> = {}) {
    const jar = new CookieJar();
    const start = await browserFetch(jar, new URL('/auth/saml/adfs/login?returnTo=%2F', base));
    expect(start.status).toBe(303);
    const samlResponse = await idpAnswers(new URL(start.headers.get('location')!), overrides);
    const acs = await browserFetch(jar, new URL('/auth/saml/adfs/acs', base), {
      form: { SAMLResponse: samlResponse },
    });
    expect(acs.status).toBe(303);
    expect(acs.headers.get('location')).toBe('/');
    const me = await browserFetch(jar, new URL('/v1/me', base));
    expect(me.status).toBe(200);
    return { jar, me: (await me.json()) as MeBody, samlResponse };
  }

  interface MeBody {
    csrfToken: string;
    identity: { username: string; groups: string[]; issuer: string; subject: string; email?: string };
    roles: { name: string; reasons: { group: string }[] }[];
  }

  function postFromBrowser(jar: CookieJar, path: string, headers: Record<string, string>, body: unknown) {
    const url = new URL(path, base);
    return fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(url), 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  }

  it('signs in, shows the mapped role, and hands out credentials that verify', async () => {
    const { jar, me } = await signedInBrowser();
    expect(me.identity).toMatchObject({
      username: 'S-1-5-21-1004',
      subject: 'S-1-5-21-1004',
      groups: ['engineers'],
      issuer: idp.entityId,
      email: 'alice@corp.example',
    });
    expect(me.roles).toEqual([
      expect.objectContaining({
        name: 'reports-reader',
        reasons: [expect.objectContaining({ group: 'engineers' })],
      }),
    ]);
    const home = await (await browserFetch(jar, new URL('/', base))).text();
    expect(home).toContain('reports-reader');

    const res = await postFromBrowser(
      jar,
      '/v1/credentials',
      { origin: base, 'x-csrf-token': me.csrfToken },
      { role: 'reports-reader', durationSeconds: 900 },
    );
    expect(res.status).toBe(200);
    const credentials = (await res.json()) as Record<string, string>;
    expect(credentials.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    const verified = await fedproxy.services.verifier.verifySessionToken(credentials.SessionToken!);
    expect(verified.record).toMatchObject({ role: 'reports-reader', idp: 'adfs', subject: 'S-1-5-21-1004' });
    expect(verified.record.principal).toBe(principalId({ issuer: idp.entityId, subject: 'S-1-5-21-1004' }));
    expect(fedproxy.services.verifier.secretAccessKeyOf(verified.record)).toBe(credentials.SecretAccessKey);
    expect(JSON.parse(verified.record.policy).Statement[0].Resource).toEqual([
      'arn:aws:reports:::team/engineers/*',
    ]);
  });

  it('fills ${saml:<attribute>} templates from the assertion', async () => {
    const { jar, me } = await signedInBrowser({
      attributes: { [GROUPS]: ['data-analysts'], department: 'research' },
    });
    const res = await postFromBrowser(
      jar,
      '/v1/credentials',
      { origin: base, 'x-csrf-token': me.csrfToken },
      { role: 'data-analyst' },
    );
    expect(res.status).toBe(200);
    const credentials = (await res.json()) as Record<string, string>;
    const verified = await fedproxy.services.verifier.verifySessionToken(credentials.SessionToken!);
    expect(JSON.parse(verified.record.policy).Statement[0].Resource).toBe('arn:aws:s3:::dept/research/*');
  });

  it('never issues credentials that outlive the IdP session (bindCredentialsToToken)', async () => {
    const sessionEnds = Date.now() + 30 * 60_000;
    const { jar, me } = await signedInBrowser({ sessionNotOnOrAfter: sessionEnds });
    const res = await postFromBrowser(
      jar,
      '/v1/credentials',
      { origin: base, 'x-csrf-token': me.csrfToken },
      { role: 'reports-reader', durationSeconds: 3600 },
    );
    expect(res.status).toBe(200);
    const { Expiration } = (await res.json()) as { Expiration: string };
    expect(Date.parse(Expiration)).toBeLessThanOrEqual(sessionEnds);
  });

  it('refuses the same response posted again, and shows why', async () => {
    const { samlResponse } = await signedInBrowser();
    const replay = await browserFetch(new CookieJar(), new URL('/auth/saml/adfs/acs', base), {
      form: { SAMLResponse: samlResponse },
    });
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('already used');
    expect(replay.headers.getSetCookie().join()).not.toContain('fp_session');
  });

  it('refuses an unsolicited response (allowIdpInitiated is off)', async () => {
    const unsolicited = encodeResponse(
      await idp.response({
        destination: `${base}/auth/saml/adfs/acs`,
        audience: `${base}/auth/saml/adfs/metadata`,
        attributes: { [GROUPS]: 'engineers' },
      }),
    );
    const res = await browserFetch(new CookieJar(), new URL('/auth/saml/adfs/acs', base), {
      form: { SAMLResponse: unsolicited },
    });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('must start at fedproxy');
  });

  it('serves SP metadata that names the ACS URL', async () => {
    const res = await fetch(new URL('/auth/saml/adfs/metadata', base));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/samlmetadata\+xml/);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${base}/auth/saml/adfs/metadata"`);
    expect(xml).toContain(`Location="${base}/auth/saml/adfs/acs"`);
  });

  describe('AssumeRoleWithSAML (real AWS SDK client)', () => {
    const assertion = (overrides: Partial<ResponseOptions> = {}) =>
      idp
        .response({
          destination: `${base}/sts`,
          audience: `${base}/auth/saml/adfs/metadata`,
          nameId: 'S-1-5-21-1004',
          attributes: { [GROUPS]: 'engineers' },
          ...overrides,
        })
        .then(encodeResponse);

    it('trades a signed assertion for credentials of a mapped role, once', async () => {
      const sts = new STSClient({ region: 'us-east-1', endpoint: `${base}/sts` });
      const SAMLAssertion = await assertion();
      const command = new AssumeRoleWithSAMLCommand({
        RoleArn: 'arn:aws:iam::000000000000:role/reports-reader',
        PrincipalArn: 'arn:aws:iam::000000000000:saml-provider/adfs',
        SAMLAssertion,
      });
      const out = await sts.send(command);
      expect(out.AssumedRoleUser?.Arn).toBe(
        'arn:aws:sts::000000000000:assumed-role/reports-reader/S-1-5-21-1004',
      );
      expect(out).toMatchObject({
        Issuer: idp.entityId,
        Subject: 'S-1-5-21-1004',
        SubjectType: 'persistent',
      });
      const verified = await fedproxy.services.verifier.verifySessionToken(out.Credentials!.SessionToken!);
      expect(verified.record).toMatchObject({ idp: 'adfs', role: 'reports-reader' });
      // The assertion may name the session, as for AWS.
      const named = await sts.send(
        new AssumeRoleWithSAMLCommand({
          ...command.input,
          SAMLAssertion: await assertion({
            attributes: {
              [GROUPS]: 'engineers',
              'https://aws.amazon.com/SAML/Attributes/RoleSessionName': 'alice@corp',
            },
          }),
        }),
      );
      expect(named.AssumedRoleUser?.Arn).toMatch(/assumed-role\/reports-reader\/alice@corp$/);
      // The same assertion again is a replay.
      await expect(sts.send(command)).rejects.toMatchObject({ name: 'InvalidIdentityTokenException' });
      // A role its groups do not map to, and an unknown provider.
      await expect(
        sts.send(
          new AssumeRoleWithSAMLCommand({
            ...command.input,
            SAMLAssertion: await assertion(),
            RoleArn: 'arn:aws:iam::000000000000:role/data-analyst',
          }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      await expect(
        sts.send(
          new AssumeRoleWithSAMLCommand({
            ...command.input,
            SAMLAssertion: await assertion(),
            PrincipalArn: 'arn:aws:iam::000000000000:saml-provider/other',
          }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      sts.destroy();
    });
  });
});
