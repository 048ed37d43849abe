/**
 * The HTTP scenarios: what a client sends, and a check that one answer is right (run before and after
 * the load, so a fast wrong answer cannot pass for a result).
 */
import { createHash } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { LoadRequest } from './harness/load.js';

export const ACCOUNT_ID = '123456789012';
export const ROLE = 'ci';

export interface HttpScenario {
  id: string;
  name: string;
  target: 'fedproxy' | 'baseline';
  request: LoadRequest;
  /** Sends the request once and throws unless the answer is right; returns the parsed answer. */
  check(baseUrl: string): Promise<unknown>;
}

export interface VendedCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: string;
}

export interface ScenarioInputs {
  /** fedproxy's URL: SigV4 signs the host. */
  fedproxyUrl: string;
  workloadToken: string;
  verifierToken: string;
  /** Credentials vended beforehand, to sign requests with. */
  credentials: VendedCredentials;
}

async function send(baseUrl: string, request: LoadRequest): Promise<Response> {
  const body = request.nextBody?.() ?? request.body;
  return fetch(new URL(request.path, baseUrl), {
    method: request.method,
    headers: request.headers ?? {},
    ...(body === undefined ? {} : { body }),
  });
}

async function expectJson(response: Response, what: string): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${what}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

function expectCredentials(answer: Record<string, unknown>, what: string): VendedCredentials {
  const { AccessKeyId, SecretAccessKey, Token, SessionToken, Expiration } = answer;
  const token = SessionToken ?? Token;
  if (
    typeof AccessKeyId !== 'string' ||
    !/^ASIA[A-Z2-7]{16}$/.test(AccessKeyId) ||
    typeof SecretAccessKey !== 'string' ||
    typeof token !== 'string' ||
    typeof Expiration !== 'string'
  )
    throw new Error(`${what}: not credentials: ${JSON.stringify(answer).slice(0, 300)}`);
  return { AccessKeyId, SecretAccessKey, SessionToken: token, Expiration };
}

export function baselineScenario(): HttpScenario {
  const request: LoadRequest = { method: 'GET', path: '/' };
  return {
    id: 'base',
    name: 'baseline: Express 5 + helmet, JSON hello',
    target: 'baseline',
    request,
    async check(baseUrl) {
      const answer = await expectJson(await send(baseUrl, request), 'baseline');
      if (answer.hello !== 'world') throw new Error('baseline: unexpected answer');
      return answer;
    },
  };
}

/** A POST /v1/credentials request; a new session name each call makes every call a new session. */
export function credentialsRequest(workloadToken: string, newSessionEachTime: boolean): LoadRequest {
  let counter = 0;
  const prefix = `bench-${process.pid}`;
  return {
    method: 'POST',
    path: '/v1/credentials',
    headers: { authorization: `Bearer ${workloadToken}`, 'content-type': 'application/json' },
    ...(newSessionEachTime
      ? { nextBody: () => JSON.stringify({ role: ROLE, sessionName: `${prefix}-${(counter += 1)}` }) }
      : { body: JSON.stringify({ role: ROLE }) }),
  };
}

export async function fedproxyScenarios(inputs: ScenarioInputs): Promise<HttpScenario[]> {
  const mintNew = credentialsRequest(inputs.workloadToken, true);
  const mintReused = credentialsRequest(inputs.workloadToken, false);
  const container: LoadRequest = {
    method: 'GET',
    path: `/v1/container-credentials/${ROLE}`,
    headers: { authorization: inputs.workloadToken },
  };
  const credentialCheck =
    (request: LoadRequest, what: string, reused: boolean) => async (baseUrl: string) => {
      const first = expectCredentials(await expectJson(await send(baseUrl, request), what), what);
      const second = expectCredentials(await expectJson(await send(baseUrl, request), what), what);
      if ((first.AccessKeyId === second.AccessKeyId) !== reused)
        throw new Error(`${what}: expected ${reused ? 'the same' : 'a new'} session on the second call`);
      return first;
    };
  const health: LoadRequest = { method: 'GET', path: '/healthz' };
  return [
    {
      id: 'stack',
      name: 'GET /healthz (the middleware stack alone)',
      target: 'fedproxy',
      request: health,
      check: async (baseUrl) => expectJson(await send(baseUrl, health), 'healthz'),
    },
    {
      id: 'a',
      name: 'POST /v1/credentials, new session each time',
      target: 'fedproxy',
      request: mintNew,
      check: credentialCheck(mintNew, 'mint (new)', false),
    },
    {
      id: 'b',
      name: 'POST /v1/credentials, reused session',
      target: 'fedproxy',
      request: mintReused,
      check: credentialCheck(mintReused, 'mint (reused)', true),
    },
    {
      id: 'c',
      name: 'GET /v1/container-credentials/:role',
      target: 'fedproxy',
      request: container,
      check: credentialCheck(container, 'container credentials', true),
    },
    await getCallerIdentityScenario(inputs),
    await authorizeScenario(inputs),
  ];
}

function signerFor(credentials: VendedCredentials, service: string): SignatureV4 {
  return new SignatureV4({
    service,
    region: 'us-east-1',
    credentials: {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
    },
    sha256: Hash.bind(null, 'sha256'),
  });
}

/**
 * A GetCallerIdentity call signed once and sent again and again, as SigV4 allows within its time window
 * (the bench stays well inside it): every call verifies the signature, the token and the session.
 */
async function getCallerIdentityScenario(inputs: ScenarioInputs): Promise<HttpScenario> {
  const url = new URL('/sts/', inputs.fedproxyUrl);
  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const signed = await signerFor(inputs.credentials, 'sts').sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  const request: LoadRequest = {
    method: 'POST',
    path: url.pathname,
    headers: signed.headers as Record<string, string>,
    body,
  };
  return {
    id: 'd',
    name: 'STS GetCallerIdentity, SigV4 with vended credentials',
    target: 'fedproxy',
    request,
    async check(baseUrl) {
      const response = await send(baseUrl, request);
      const text = await response.text();
      const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
      if (
        response.status !== 200 ||
        arn?.startsWith(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/${ROLE}/`) !== true
      )
        throw new Error(`GetCallerIdentity: HTTP ${response.status}: ${text.slice(0, 300)}`);
      return { arn };
    },
  };
}

/** A resource service asking whether a signed S3-style request may read an object. */
async function authorizeScenario(inputs: ScenarioInputs): Promise<HttpScenario> {
  const host = 'bench-bucket.s3.example';
  const path = '/reports/2026.csv';
  const signed = await signerFor(inputs.credentials, 's3').sign({
    method: 'GET',
    protocol: 'https:',
    hostname: host,
    path,
    headers: { host },
  });
  const request: LoadRequest = {
    method: 'POST',
    path: '/v1/authorize',
    headers: { authorization: `Bearer ${inputs.verifierToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      request: {
        method: 'GET',
        path,
        headers: signed.headers,
        payloadHash: createHash('sha256').update('').digest('hex'),
      },
      service: 's3',
      action: 's3:GetObject',
      resource: `arn:aws:s3:::bench-bucket${path}`,
    }),
  };
  return {
    id: 'e',
    name: 'POST /v1/authorize, SigV4-signed request',
    target: 'fedproxy',
    request,
    async check(baseUrl) {
      const answer = await expectJson(await send(baseUrl, request), 'authorize');
      if (answer.allowed !== true) throw new Error(`authorize: not allowed: ${JSON.stringify(answer)}`);
      return answer;
    },
  };
}
