/**
 * A resource service (examples/reports-api) protected by the verifier middleware; clients sign requests
 * with the AWS SDK's SigV4 signer and credentials vended through the real STS client. Remote mode asks
 * fedproxy's /v1/authorize; local mode checks in-process against the same Redis and key ring.
 */
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createReportsApi } from '../../examples/reports-api/server.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { generateStoredKeySet } from '../../src/credentials/keys.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { localAuthorizer, remoteAuthorizer, type Authorizer } from '../../src/verifier/index.js';
import { testConfig } from '../support/app.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const ACCOUNT = '123456789012';
const VERIFIER_TOKEN = randomBytes(24).toString('base64url');
const KEYS = JSON.stringify([generateStoredKeySet()]);

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

function configFor(idp: TestIdp): ConfigInput {
  return {
    accountId: ACCOUNT,
    store: {
      type: 'redis',
      redis: { url: inject('redisUrl'), keyPrefix: `fp-test-rs-${randomBytes(4).toString('hex')}:` },
    },
    keys: { ephemeral: false },
    idps: [{ id: 'ci', type: 'oidc', issuer: idp.issuer, browser: false, audiences: ['fedproxy'] }],
    roles: [
      {
        name: 'engineering-reports',
        policy: {
          Statement: [
            {
              Effect: 'Allow',
              Action: ['reports:GetReport', 'reports:ListReports', 'reports:PutReport'],
              Resource: 'arn:aws:reports:::team/engineers/*',
            },
          ],
        },
      },
    ],
    mappings: [{ group: 'ci-deployers', roles: ['engineering-reports'] }],
    verifiers: [{ name: 'reports-api', sha256: createHash('sha256').update(VERIFIER_TOKEN).digest('hex') }],
  };
}

async function listen(app: ReturnType<typeof createReportsApi>): Promise<{ server: Server; url: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Signs and sends a request to the reports API the way an AWS SDK client of a custom service would. */
async function signedFetch(
  base: string,
  credentials: Credentials,
  method: string,
  path: string,
  options: { body?: string; sendBody?: string } = {},
): Promise<Response> {
  const url = new URL(path, base);
  const signer = new SignatureV4({
    service: 'reports',
    region: 'us-east-1',
    credentials,
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: {
      host: url.host,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  return fetch(url, {
    method,
    headers: signed.headers as Record<string, string>,
    ...(options.body === undefined ? {} : { body: options.sendBody ?? options.body }),
  });
}

describe.each(['remote', 'local'] as const)(
  'resource service with the verifier middleware (%s mode)',
  (mode) => {
    let idp: TestIdp;
    let fedproxy: RunningServer;
    let api: { server: Server; url: string };
    let closeAuthorizer = async () => {};
    let sts: STSClient;

    beforeAll(async () => {
      idp = await startTestIdp();
      const config = testConfig(configFor(idp));
      fedproxy = await startServer(config, { processMetrics: false, env: { FEDPROXY_KEYS: KEYS } });
      let authorizer: Authorizer;
      if (mode === 'remote') {
        authorizer = remoteAuthorizer({ url: fedproxy.url, token: VERIFIER_TOKEN });
      } else {
        const local = await localAuthorizer(config, { FEDPROXY_KEYS: KEYS });
        authorizer = local.authorizer;
        closeAuthorizer = local.close;
      }
      api = await listen(createReportsApi(authorizer));
      sts = new STSClient({ region: 'us-east-1', endpoint: `${fedproxy.url}/sts` });
    });
    afterAll(async () => {
      sts?.destroy();
      api?.server.close();
      await closeAuthorizer();
      await fedproxy?.close();
      await idp?.close();
    });

    async function vended(): Promise<Credentials> {
      const out = await sts.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/engineering-reports`,
          RoleSessionName: `reports-${randomBytes(3).toString('hex')}`,
          WebIdentityToken: await idp.fetchWorkloadToken(),
        }),
      );
      return {
        accessKeyId: out.Credentials!.AccessKeyId!,
        secretAccessKey: out.Credentials!.SecretAccessKey!,
        sessionToken: out.Credentials!.SessionToken!,
      };
    }

    it('allows what the role policy allows and tells the service who called', async () => {
      const credentials = await vended();
      const list = await signedFetch(api.url, credentials, 'GET', '/reports/engineers');
      expect(list.status).toBe(200);
      expect(await list.json()).toMatchObject({
        caller: expect.stringMatching(/:assumed-role\/engineering-reports\//),
      });
      const get = await signedFetch(api.url, credentials, 'GET', '/reports/engineers/q3-latency');
      expect(get.status).toBe(200);
      const put = await signedFetch(api.url, credentials, 'PUT', '/reports/engineers/q4', {
        body: '{"p99":170}',
      });
      expect(put.status).toBe(204);
    });

    it('denies another team’s reports with AccessDenied and the reason', async () => {
      const res = await signedFetch(api.url, await vended(), 'GET', '/reports/finance/q3-spend');
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: { code: 'AccessDenied', message: expect.stringContaining('Access denied') },
      });
    });

    it('refuses a body other than the one signed, an unsigned request and a tampered signature', async () => {
      const credentials = await vended();
      const swapped = await signedFetch(api.url, credentials, 'PUT', '/reports/engineers/q4', {
        body: '{"p99":170}',
        sendBody: '{"p99":1}',
      });
      expect(swapped.status).toBe(403);
      expect(((await swapped.json()) as { error: { code: string } }).error.code).toBe(
        'SignatureDoesNotMatch',
      );
      const unsigned = await fetch(new URL('/reports/engineers', api.url));
      expect(unsigned.status).toBe(403);
      const wrongSecret = await signedFetch(
        api.url,
        { ...credentials, secretAccessKey: 'x'.repeat(40) },
        'GET',
        '/reports/engineers',
      );
      expect(((await wrongSecret.json()) as { error: { code: string } }).error.code).toBe(
        'SignatureDoesNotMatch',
      );
    });

    it('a revoked session stops working at once', async () => {
      const credentials = await vended();
      expect((await signedFetch(api.url, credentials, 'GET', '/reports/engineers')).status).toBe(200);
      const { record } = await fedproxy.services.verifier.verifySessionToken(credentials.sessionToken);
      await fedproxy.services.store.sessions.revoke(record.sid, Date.now());
      const after = await signedFetch(api.url, credentials, 'GET', '/reports/engineers');
      expect(after.status).toBe(403);
      expect(((await after.json()) as { error: { code: string } }).error.code).toBe('InvalidClientTokenId');
    });
  },
);

describe('POST /v1/authorize', () => {
  let idp: TestIdp;
  let fedproxy: RunningServer;

  beforeAll(async () => {
    idp = await startTestIdp();
    const base = configFor(idp);
    const mfaOnly = (condition: Record<string, Record<string, string>>) => ({
      Effect: 'Allow' as const,
      Action: 'reports:GetReport',
      Resource: '*',
      Condition: condition,
    });
    fedproxy = await startServer(
      testConfig({
        ...base,
        store: { type: 'memory' },
        keys: { ephemeral: true },
        roles: [
          ...(base.roles ?? []),
          {
            name: 'mfa-only',
            policy: {
              Statement: [
                mfaOnly({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } }),
                mfaOnly({ StringEquals: { 'aws:PrincipalTag/team': 'x' } }),
                mfaOnly({ IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }),
              ],
            },
          },
        ],
        mappings: [{ group: 'ci-deployers', roles: ['engineering-reports', 'mfa-only'] }],
      }),
      { processMetrics: false },
    );
  });
  afterAll(async () => {
    await fedproxy?.close();
    await idp?.close();
  });

  const authorize = (body: unknown, token: string | null = VERIFIER_TOKEN) =>
    fetch(`${fedproxy.url}/v1/authorize`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });

  it('needs a verifier token: 401 without, 403 with another', async () => {
    const body = { sessionToken: 'x', action: 'reports:GetReport', resource: 'arn:x' };
    expect((await authorize(body, null)).status).toBe(401);
    expect((await authorize(body, randomBytes(24).toString('base64url'))).status).toBe(403);
  });

  it('decides for a session token, names the deciding statement, and ignores claims about the principal', async () => {
    const response = await fetch(`${fedproxy.url}/v1/credentials`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await idp.fetchWorkloadToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ role: 'engineering-reports' }),
    });
    const { SessionToken } = (await response.json()) as { SessionToken: string };
    const allowed = await (
      await authorize({
        sessionToken: SessionToken,
        action: 'reports:GetReport',
        resource: 'arn:aws:reports:::team/engineers/x',
        context: { 'FED:USERNAME': 'admin' },
      })
    ).json();
    expect(allowed).toMatchObject({
      allowed: true,
      decision: 'Allow',
      principal: { role: 'engineering-reports', username: idp.workloadClient.clientId },
    });
    const denied = await (
      await authorize({
        sessionToken: SessionToken,
        action: 'reports:DeleteReport',
        resource: 'arn:aws:reports:::team/engineers/x',
      })
    ).json();
    expect(denied).toMatchObject({ allowed: false, decision: 'ImplicitDeny' });
    const bad = await (
      await authorize({ sessionToken: `${SessionToken}x`, action: 'reports:GetReport', resource: 'arn:x' })
    ).json();
    expect(bad).toMatchObject({ allowed: false, code: 'InvalidClientTokenId' });
  });

  it('refuses a request signed for another service than the one named, with SignatureDoesNotMatch', async () => {
    const response = await fetch(`${fedproxy.url}/v1/credentials`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await idp.fetchWorkloadToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ role: 'engineering-reports' }),
    });
    const vended = (await response.json()) as {
      AccessKeyId: string;
      SecretAccessKey: string;
      SessionToken: string;
    };
    const path = '/reports/engineers/q1';
    /** The request as the reports service received it, signed for `service`. */
    const signedFor = async (service: string) => {
      const signer = new SignatureV4({
        service,
        region: 'us-east-1',
        credentials: {
          accessKeyId: vended.AccessKeyId,
          secretAccessKey: vended.SecretAccessKey,
          sessionToken: vended.SessionToken,
        },
        sha256: Hash.bind(null, 'sha256'),
        uriEscapePath: service !== 's3',
      });
      const signed = await signer.sign({
        method: 'GET',
        protocol: 'https:',
        hostname: 'reports.internal',
        path,
        query: {},
        headers: { host: 'reports.internal' },
      });
      return {
        method: 'GET',
        path,
        query: {},
        headers: signed.headers,
        payloadHash: createHash('sha256').digest('hex'),
      };
    };
    const decide = async (signedService: string) =>
      (await authorize({
        request: await signedFor(signedService),
        service: 'reports',
        action: 'reports:GetReport',
        resource: 'arn:aws:reports:::team/engineers/q1',
      }).then((r) => r.json())) as Record<string, unknown>;
    // Signed for the service it is sent to, the same request is allowed: only the scope differs below.
    expect(await decide('reports')).toMatchObject({ allowed: true, decision: 'Allow' });
    const forS3 = await decide('s3');
    expect(forS3).toMatchObject({ allowed: false, code: 'SignatureDoesNotMatch' });
    expect(forS3).not.toHaveProperty('decision');
  });

  it('a resource service cannot claim facts about the principal through the context', async () => {
    const response = await fetch(`${fedproxy.url}/v1/credentials`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await idp.fetchWorkloadToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ role: 'mfa-only' }),
    });
    const { SessionToken } = (await response.json()) as { SessionToken: string };
    const decide = (context: Record<string, unknown>) =>
      authorize({
        sessionToken: SessionToken,
        action: 'reports:GetReport',
        resource: 'arn:aws:reports:::team/x/1',
        context,
      }).then((r) => r.json() as Promise<{ allowed: boolean }>);
    expect(await decide({ 'aws:MultiFactorAuthPresent': true })).toMatchObject({ allowed: false });
    expect(await decide({ 'AWS:PRINCIPALTAG/team': 'x' })).toMatchObject({ allowed: false });
    // Request-describing keys are the service's to give.
    expect(await decide({ 'aws:SourceIp': '10.0.0.1' })).toMatchObject({ allowed: true });
  });

  it('refuses malformed and oversized input with 400', async () => {
    for (const body of [
      { action: 'reports:GetReport', resource: 'arn:x' },
      {
        sessionToken: 'x',
        request: { method: 'GET', path: '/', headers: {}, payloadHash: 'UNSIGNED-PAYLOAD' },
        action: 'a:b',
        resource: 'r',
      },
      { sessionToken: 'x', action: 'reports:GetReport', resource: 'arn:x', extra: 1 },
      // A signed request without the service it was signed for could be replayed across services.
      {
        request: { method: 'GET', path: '/', headers: {}, payloadHash: 'UNSIGNED-PAYLOAD' },
        action: 'reports:GetReport',
        resource: 'arn:x',
      },
      { sessionToken: 'x', action: 'reports:GetReport', resource: 'arn:x', context: { k: 'v'.repeat(2000) } },
    ]) {
      expect((await authorize(body)).status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
  });
});
