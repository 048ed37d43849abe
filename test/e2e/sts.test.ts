/**
 * The STS Query API against the real AWS SDK v3 STS client, with a real OpenID provider issuing the
 * workload's web identity token.
 */
import {
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
  GetFederationTokenCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { randomBytes } from 'node:crypto';
import { randomBase32 } from '../../src/credentials/encoding.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const ACCOUNT = '123456789012';
const SERVICE_ACCOUNT = {
  name: 'broker',
  accessKeyId: `AKIA${randomBase32(16)}`,
  secretAccessKey: randomBytes(30).toString('base64'),
  maxSessionDuration: 3600,
  policy: {
    Version: '2012-10-17' as const,
    Statement: [{ Effect: 'Allow' as const, Action: 'reports:Get*', Resource: 'arn:aws:reports:::team/*' }],
  },
};

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
        serviceAccounts: [SERVICE_ACCOUNT],
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

    const injected = await post({ Action: 'Assume<Role>&"\u0001', Version: '2011-06-15' });
    const injectedXml = await injected.text();
    expect(injectedXml).toContain('Assume&lt;Role&gt;&amp;&quot;\uFFFD');
    expect(injectedXml).not.toContain('\u0001'); // not representable in XML 1.0

    const repeated = await fetch(`${fedproxy.url}/sts/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=a&WebIdentityToken=b',
    });
    expect(repeated.status).toBe(400);
    expect(await repeated.text()).toContain('<Code>ValidationError</Code>');

    // Failures before the action runs (here: the body size limit) still answer AWS's XML.
    const oversized = await post({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      Pad: 'x'.repeat(300_000),
    });
    expect(oversized.status).toBe(413);
    expect(oversized.headers.get('content-type')).toContain('text/xml');
    expect(await oversized.text()).toContain('<ErrorResponse');
  });

  /** An STS client signing with the given credentials. */
  const signedClient = (credentials: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  }) => new STSClient({ region: 'us-east-1', endpoint: `${fedproxy.url}/sts`, credentials });

  const vended = async () => {
    const out = await assume();
    return {
      accessKeyId: out.Credentials!.AccessKeyId!,
      secretAccessKey: out.Credentials!.SecretAccessKey!,
      sessionToken: out.Credentials!.SessionToken!,
    };
  };

  it('GetCallerIdentity signed with vended credentials returns the assumed-role ARN', async () => {
    const client = signedClient(await vended());
    const out = await client.send(new GetCallerIdentityCommand({}));
    expect(out.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/ci-deployer/pipeline-42`);
    expect(out.Account).toBe(ACCOUNT);
    expect(out.UserId).toMatch(/^AROA[A-Z2-7]{16}:pipeline-42$/);
    client.destroy();
  });

  it('GetCallerIdentity fails with AWS codes for a wrong secret, a revoked session and a missing token', async () => {
    const credentials = await vended();
    const wrongSecret = signedClient({
      ...credentials,
      // Another last character (a fixed one would be the right secret one time in 64).
      secretAccessKey: `${credentials.secretAccessKey.slice(0, -1)}${credentials.secretAccessKey.endsWith('A') ? 'B' : 'A'}`,
    });
    await expect(wrongSecret.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
    const noToken = signedClient({
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
    });
    await expect(noToken.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
    const verified = await fedproxy.services.verifier.verifySessionToken(credentials.sessionToken);
    await fedproxy.services.store.sessions.revoke(verified.record.sid, Date.now());
    const revoked = signedClient(credentials);
    await expect(revoked.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
      $metadata: { httpStatusCode: 403 },
    });
    for (const client of [wrongSecret, noToken, revoked]) client.destroy();
  });

  /**
   * Signs an STS Query API call by hand with the SDK's signer, so the signing name can be other than
   * `sts` (the STS client always signs for `sts`); the path is encoded the way that service signs it.
   */
  const signedCall = async (
    service: string,
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
    params: Record<string, string>,
  ) => {
    const url = new URL(`${fedproxy.url}/sts/`);
    const body = new URLSearchParams({ Version: '2011-06-15', ...params }).toString();
    const signer = new SignatureV4({
      service,
      region: 'us-east-1',
      credentials,
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: service !== 's3',
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  };

  it.each([
    ['GetCallerIdentity', 'vended credentials', () => vended(), {}],
    ['GetFederationToken', "a service account's key", async () => SERVICE_ACCOUNT, { Name: 'carol' }],
  ])(
    '%s signed with %s for s3 instead of sts fails with SignatureDoesNotMatch; signed for sts it succeeds',
    async (Action, _, credentialsOf, params) => {
      const credentials = await credentialsOf();
      const wrongService = await signedCall('s3', credentials, { Action, ...params });
      expect(wrongService.status).toBe(403);
      expect(await wrongService.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      const rightService = await signedCall('sts', credentials, { Action, ...params });
      expect(rightService.status).toBe(200);
      expect(await rightService.text()).toContain(`<${Action}Result>`);
    },
  );

  it('GetFederationToken signed by a service account mints a federated user within the account policy', async () => {
    const client = signedClient(SERVICE_ACCOUNT);
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    });
    const out = await client.send(
      new GetFederationTokenCommand({ Name: 'alice', Policy, DurationSeconds: 900 }),
    );
    expect(out.FederatedUser).toEqual({
      Arn: `arn:aws:sts::${ACCOUNT}:federated-user/alice`,
      FederatedUserId: `${ACCOUNT}:alice`,
    });
    const verified = await fedproxy.services.verifier.verifySessionToken(out.Credentials!.SessionToken!);
    // The passed policy is the session policy: the account's policy still bounds what it can do.
    expect(JSON.parse(verified.record.policy)).toEqual(SERVICE_ACCOUNT.policy);
    expect(JSON.parse(verified.record.sessionPolicy!)).toEqual(JSON.parse(Policy));
    // A policy wider than the account's is cut down to it: the intersection decides.
    const decide = (action: string, resource: string) =>
      fedproxy.services.authorizer.authorize({
        sessionToken: out.Credentials!.SessionToken!,
        action,
        resource,
      });
    expect(await decide('reports:GetReport', 'arn:aws:reports:::team/a/1')).toMatchObject({ allowed: true });
    expect(await decide('s3:GetObject', 'arn:aws:s3:::bucket/key')).toMatchObject({ allowed: false });
    const noPolicy = await client.send(new GetFederationTokenCommand({ Name: 'bob' }));
    expect(
      await fedproxy.services.authorizer.authorize({
        sessionToken: noPolicy.Credentials!.SessionToken!,
        action: 'reports:GetReport',
        resource: 'arn:aws:reports:::team/a/1',
      }),
    ).toMatchObject({ allowed: false });
    const federated = signedClient({
      accessKeyId: out.Credentials!.AccessKeyId!,
      secretAccessKey: out.Credentials!.SecretAccessKey!,
      sessionToken: out.Credentials!.SessionToken!,
    });
    expect((await federated.send(new GetCallerIdentityCommand({}))).Arn).toBe(
      `arn:aws:sts::${ACCOUNT}:federated-user/alice`,
    );
    await expect(client.send(new GetFederationTokenCommand({ Name: 'a' }))).rejects.toMatchObject({
      name: 'ValidationError',
    });
    await expect(
      client.send(new GetFederationTokenCommand({ Name: 'alice', DurationSeconds: 3601 })),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    client.destroy();
    federated.destroy();
  });

  it('GetFederationToken refuses unknown keys and temporary credentials', async () => {
    const unknown = signedClient({ ...SERVICE_ACCOUNT, accessKeyId: `AKIA${randomBase32(16)}` });
    await expect(unknown.send(new GetFederationTokenCommand({ Name: 'alice' }))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
    const temporary = signedClient(await vended());
    await expect(temporary.send(new GetFederationTokenCommand({ Name: 'alice' }))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
    unknown.destroy();
    temporary.destroy();
  });
});
