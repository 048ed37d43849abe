/**
 * Two fedproxy processes on one Redis, as behind a load balancer: a credential minted on A verifies on
 * B; revoked on A (each scope in turn), it fails on B within revocation.maxStalenessMs. The measured
 * propagation lag is printed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import { generateStoredKeySet } from '../../src/credentials/keys.js';
import { startFedproxyProcess, type RunningProcess } from '../support/fedproxy-process.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';

const MAX_STALENESS_MS = 1000;
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const VERIFIER_TOKEN = randomBytes(24).toString('base64url');
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

describe('two instances on one Redis', () => {
  let idp: TestIdp;
  const instances: RunningProcess[] = [];
  const lags: Record<string, number> = {};

  beforeAll(async () => {
    idp = await startTestIdp();
    const workDir = await mkdtemp(join(tmpdir(), 'fedproxy-multi-'));
    const keys = JSON.stringify([generateStoredKeySet()]);
    const keyPrefix = `fp-test-multi-${randomBytes(4).toString('hex')}:`;
    const config = {
      mode: 'development',
      store: { type: 'redis', redis: { url: inject('redisUrl'), keyPrefix } },
      credentials: { issuer: 'https://fedproxy.multi.test' },
      log: { level: 'warn' },
      revocation: { maxStalenessMs: MAX_STALENESS_MS },
      idps: [{ id: 'ci', type: 'oidc', issuer: idp.issuer, browser: false, audiences: ['fedproxy'] }],
      roles: [{ name: 'ci', policy: { Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] } }],
      mappings: [{ group: 'ci-deployers', roles: ['ci'] }],
      admin: { tokens: [{ name: 'ops', sha256: sha256(ADMIN_TOKEN) }] },
      verifiers: [{ name: 'test', sha256: sha256(VERIFIER_TOKEN) }],
    };
    instances.push(
      ...(await Promise.all(['a', 'b'].map((name) => startFedproxyProcess({ name, config, keys, workDir })))),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await idp?.close();
    console.log(`revocation propagation A → B (ms): ${JSON.stringify(lags)}`);
  });

  const [a, b] = [() => instances[0]!, () => instances[1]!];

  async function mintOnA(): Promise<Record<string, string>> {
    const res = await fetch(`${a().url}/v1/credentials`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await idp.fetchWorkloadToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ role: 'ci' }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, string>;
  }

  async function allowedOnB(sessionToken: string): Promise<boolean> {
    const res = await fetch(`${b().url}/v1/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VERIFIER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionToken, action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/key' }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { allowed: boolean }).allowed;
  }

  it('a credential minted on A verifies on B', async () => {
    const credentials = await mintOnA();
    expect(await allowedOnB(credentials.SessionToken!)).toBe(true);
  });

  const principal = () => principalId({ issuer: idp.issuer, subject: idp.workloadClient.clientId });
  const scopes: [string, (c: Record<string, string>) => string | undefined][] = [
    ['session', (c) => c.sessionId],
    ['accessKey', (c) => c.AccessKeyId],
    ['user', () => principal()],
    ['role', () => 'ci'],
    ['group', () => 'ci-deployers'],
    ['idp', () => 'ci'],
    ['all', () => undefined],
  ];

  it.each(scopes)('revoked on A by %s, it fails on B within maxStalenessMs', async (scope, valueOf) => {
    const credentials = await mintOnA();
    expect(await allowedOnB(credentials.SessionToken!)).toBe(true); // B has it cached as live now
    const value = valueOf(credentials);
    const res = await fetch(`${a().url}/admin/v1/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        scope,
        ...(value === undefined ? {} : { value }),
        reason: `multi-instance test: ${scope}`,
      }),
    });
    expect(res.status).toBe(201);
    const revokedAt = Date.now();
    let lag = -1;
    while (Date.now() - revokedAt < MAX_STALENESS_MS + 1000) {
      if (!(await allowedOnB(credentials.SessionToken!))) {
        lag = Date.now() - revokedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    lags[scope] = lag;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThanOrEqual(MAX_STALENESS_MS + 250);
  });
});
