/**
 * The STS Query API against the real AWS SDK v3 STS client, with a real OpenID provider issuing the
 * workload's web identity token.
 */
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const ACCOUNT = '123456789012';

describe('STS Query API (real AWS SDK client)', () => {
  let idp: TestIdp;
  let fedproxy: RunningServer;
  let sts: STSClient;

  beforeAll(async () => {
    idp = await startTestIdp();
    fedproxy = await startServer(
      testConfig({
        accountId: ACCOUNT,
        idps: [{ id: 'ci', type: 'oidc', issuer: idp.issuer, browser: false, audiences: ['fedproxy'] }],
        roles: [
          {
            name: 'ci-deployer',
            maxSessionDuration: 7200,
            policy: {
              Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/*' }],
            },
          },
          { name: 'admin', policy: { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } },
        ],
        mappings: [{ group: 'ci-deployers', roles: ['ci-deployer'] }],
      }),
      { processMetrics: false },
    );
    sts = new STSClient({ region: 'us-east-1', endpoint: `${fedproxy.url}/sts` });
  });
  afterAll(async () => {
    sts?.destroy();
    await fedproxy?.close();
    await idp?.close();
  });

  const assume = (
    overrides: Partial<ConstructorParameters<typeof AssumeRoleWithWebIdentityCommand>[0]> = {},
  ) =>
    idp.fetchWorkloadToken().then((token) =>
      sts.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/ci-deployer`,
          RoleSessionName: 'pipeline-42',
          WebIdentityToken: token,
          ...overrides,
        }),
      ),
    );

  it('AssumeRoleWithWebIdentity answers credentials the SDK parses, and they verify', async () => {
    const out = await assume({ DurationSeconds: 3600 });
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(out.Credentials?.Expiration).toBeInstanceOf(Date);
    expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/ci-deployer/pipeline-42`);
    expect(out.SubjectFromWebIdentityToken).toBe(idp.workloadClient.clientId);
    expect(out.Provider).toBe(idp.issuer);
    const verified = await fedproxy.services.verifier.verifySessionToken(out.Credentials!.SessionToken!);
    expect(verified.record).toMatchObject({ role: 'ci-deployer', sessionName: 'pipeline-42' });
    expect(fedproxy.services.verifier.secretAccessKeyOf(verified.record)).toBe(
      out.Credentials!.SecretAccessKey,
    );
  });

  it('a session policy narrows the session and is reported in PackedPolicySize', async () => {
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/one/*' }],
    });
    const out = await assume({ Policy });
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    const verified = await fedproxy.services.verifier.verifySessionToken(out.Credentials!.SessionToken!);
    expect(JSON.parse(verified.record.sessionPolicy!)).toEqual(JSON.parse(Policy));
  });

  it('maps failures to the errors the SDK knows', async () => {
    await expect(assume({ WebIdentityToken: 'not.a.jwt' })).rejects.toMatchObject({
      name: 'InvalidIdentityTokenException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(assume({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/admin` })).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(assume({ RoleArn: 'arn:aws:iam::999999999999:role/ci-deployer' })).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    await expect(assume({ DurationSeconds: 600 })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ DurationSeconds: 7201 })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ RoleSessionName: 'has space' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(assume({ Policy: '{"Statement":' })).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
    });
  });

  it('answers AWS ErrorResponse XML with the wire code for clients other than the JS SDK', async () => {
    const post = (body: Record<string, string>) =>
      fetch(`${fedproxy.url}/sts/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body),
      });
    const unknown = await post({ Action: 'AssumeRole', Version: '2011-06-15' });
    expect(unknown.status).toBe(400);
    const xml = await unknown.text();
    expect(xml).toContain('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
    expect(xml).toMatch(/<Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
    expect(xml).toMatch(/<RequestId>[0-9a-f-]{36}<\/RequestId>/);

    const badToken = await post({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/ci-deployer`,
      RoleSessionName: 'x1',
      WebIdentityToken: 'eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.',
    });
    expect(badToken.status).toBe(400);
    expect(await badToken.text()).toContain('<Code>InvalidIdentityToken</Code>');

    const injected = await post({ Action: 'Assume<Role>&"', Version: '2011-06-15' });
    expect(await injected.text()).toContain('Assume&lt;Role&gt;&amp;&quot;');
  });
});
