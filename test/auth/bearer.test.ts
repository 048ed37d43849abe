import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import {
  MAX_CACHE_AGE_MS,
  MAX_TOKEN_LENGTH,
  WorkloadTokenVerifier,
  type WorkloadTokenVerifierOptions,
} from '../../src/auth/oidc/bearer.js';
import { ManualClock } from '../../src/clock.js';
import { ConfigError } from '../../src/config/errors.js';
import { idpSchema, type OidcIdpConfig } from '../../src/config/schema.js';
import { AppError, InvalidIdentityTokenError } from '../../src/errors.js';

// The real jose, with jwtVerify wrapped in a spy so tests can see when crypto runs.
vi.mock('jose', async (importOriginal) => {
  const actual = await importOriginal<typeof jose>();
  return { ...actual, jwtVerify: vi.fn(actual.jwtVerify) };
});
const jwtVerifySpy = vi.mocked(jose.jwtVerify);

// ---------------------------------------------------------------------------------------------------
// A local IdP: discovery + JWKS per tenant on one node:http server, with fetch counters.

interface Tenant {
  name: string;
  issuer: string;
  keys: jose.JWK[];
  /** What discovery claims as its issuer (default: the real one). */
  discoveryIssuer?: string;
  /** What discovery names as jwks_uri (default: `<issuer>/jwks`). */
  discoveryJwksUri?: string;
  jwksStatus: number;
  jwksFetches: number;
  discoveryFetches: number;
}

class TestIdp {
  readonly #tenants = new Map<string, Tenant>();
  #server: Server | undefined;
  #count = 0;
  base = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.#server?.close(resolve));
  }

  tenant(keys: SigningKey[] = []): Tenant {
    const name = `idp${++this.#count}`;
    const tenant: Tenant = {
      name,
      issuer: `${this.base}/${name}`,
      keys: keys.map((key) => key.publicJwk),
      jwksStatus: 200,
      jwksFetches: 0,
      discoveryFetches: 0,
    };
    this.#tenants.set(name, tenant);
    return tenant;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const match = /^\/([\w-]+)(\/\.well-known\/openid-configuration|\/jwks)$/.exec(req.url ?? '');
    const tenant = match === null ? undefined : this.#tenants.get(match[1]!);
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (match === null || tenant === undefined) return void send(404, {});
    if (match[2] === '/jwks') {
      tenant.jwksFetches++;
      return void send(tenant.jwksStatus, { keys: tenant.keys });
    }
    tenant.discoveryFetches++;
    send(200, {
      issuer: tenant.discoveryIssuer ?? tenant.issuer,
      jwks_uri: tenant.discoveryJwksUri ?? `${tenant.issuer}/jwks`,
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Keys, tokens and configs.

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: jose.CryptoKey;
  publicKey: jose.CryptoKey;
  publicJwk: jose.JWK;
}

async function signingKey(alg: SigningKey['alg'], kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
const nowSeconds = () => Math.floor(clock.now() / 1000);

function claimsFor(tenant: Tenant, overrides: jose.JWTPayload = {}): jose.JWTPayload {
  return {
    iss: tenant.issuer,
    sub: 'system:serviceaccount:reports:exporter',
    aud: 'fedproxy',
    iat: nowSeconds(),
    exp: nowSeconds() + 600,
    ...overrides,
  };
}

function sign(
  key: SigningKey,
  claims: jose.JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token built from raw parts, for the forgeries jose will not produce. */
function forge(
  header: unknown,
  payload: unknown,
  signWith: (input: string) => Buffer = () => Buffer.alloc(0),
) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signWith(input).toString('base64url')}`;
}

function idpConfig(tenant: Tenant, overrides: Record<string, unknown> = {}): OidcIdpConfig {
  const idp = idpSchema.parse({
    id: tenant.name,
    type: 'oidc',
    issuer: tenant.issuer,
    audiences: ['fedproxy'],
    browser: false,
    ...overrides,
  });
  if (idp.type !== 'oidc') throw new Error('expected an OIDC IdP');
  return idp;
}

function verifierFor(idps: OidcIdpConfig[], options: Partial<WorkloadTokenVerifierOptions> = {}) {
  return new WorkloadTokenVerifier(idps, { clock, ...options });
}

/** Asserts an InvalidIdentityTokenError with this internal reason, and returns it. */
async function expectRefused(promise: Promise<unknown>, reason: string): Promise<InvalidIdentityTokenError> {
  const error: unknown = await promise.then(
    () => new Error('the token was accepted'),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(InvalidIdentityTokenError);
  expect((error as InvalidIdentityTokenError).reason).toBe(reason);
  return error as InvalidIdentityTokenError;
}

// ---------------------------------------------------------------------------------------------------

const idp = new TestIdp();
let rsa: SigningKey;
let ec: SigningKey;
let ed: SigningKey;
let otherIdpKey: SigningKey;
let attacker: SigningKey;
let rotated: SigningKey;

beforeAll(async () => {
  await idp.start();
  [rsa, ec, ed, otherIdpKey, attacker, rotated] = await Promise.all([
    signingKey('RS256', 'rsa-1'),
    signingKey('ES256', 'ec-1'),
    signingKey('EdDSA', 'ed-1'),
    signingKey('RS256', 'other-1'),
    signingKey('RS256', 'attacker-1'),
    signingKey('RS256', 'rsa-2'),
  ]);
});
afterAll(() => idp.close());
beforeEach(() => {
  jwtVerifySpy.mockClear(); // a function returned from a hook would be taken as its cleanup
});
afterEach(() => vi.useRealTimers());

describe('WorkloadTokenVerifier: valid tokens', () => {
  it('accepts an RS256 token and maps it to an identity keyed by (iss, sub)', async () => {
    const tenant = idp.tenant([rsa, ec]);
    const config = idpConfig(tenant);
    const claims = claimsFor(tenant, { groups: ['exporters'] });
    const result = await verifierFor([config]).verify(await sign(rsa, claims));
    expect(result.idp).toBe(config);
    expect(result.expiresAt).toBe(claims.exp! * 1000);
    expect(result.identity).toMatchObject({
      idp: tenant.name,
      protocol: 'oidc',
      issuer: tenant.issuer,
      subject: 'system:serviceaccount:reports:exporter',
      username: 'system:serviceaccount:reports:exporter',
      groups: ['exporters'],
      expiresAt: claims.exp! * 1000,
    });
  });

  it('accepts an ES256 token', async () => {
    const tenant = idp.tenant([rsa, ec]);
    const result = await verifierFor([idpConfig(tenant)]).verify(await sign(ec, claimsFor(tenant)));
    expect(result.identity.issuer).toBe(tenant.issuer);
  });

  it('accepts an EdDSA token', async () => {
    const tenant = idp.tenant([ed]);
    const result = await verifierFor([idpConfig(tenant)]).verify(await sign(ed, claimsFor(tenant)));
    expect(result.identity.subject).toBe('system:serviceaccount:reports:exporter');
  });

  it('gives the same sub from two issuers two different principals', async () => {
    const a = idp.tenant([rsa]);
    const b = idp.tenant([ec]);
    const verifier = verifierFor([idpConfig(a), idpConfig(b)]);
    const fromA = await verifier.verify(await sign(rsa, claimsFor(a, { sub: 'build-bot' })));
    const fromB = await verifier.verify(await sign(ec, claimsFor(b, { sub: 'build-bot' })));
    expect(fromA.identity.subject).toBe(fromB.identity.subject);
    expect(fromA.idp.id).not.toBe(fromB.idp.id);
    expect(principalId(fromA.identity)).not.toBe(principalId(fromB.identity));
  });

  it('accepts any one of the configured audiences in an aud array', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant, { audiences: ['fedproxy', 'sts.corp.example'] })]);
    const token = await sign(
      rsa,
      claimsFor(tenant, { aud: ['other-service', 'sts.corp.example'], azp: 'ci' }),
    );
    expect((await verifier.verify(token)).identity.attributes.azp).toBe('ci');
  });
});

describe('WorkloadTokenVerifier: forged and hostile tokens', () => {
  it('refuses alg "none" before any crypto or network', async () => {
    const tenant = idp.tenant([rsa]);
    const token = forge({ alg: 'none' }, claimsFor(tenant));
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'algorithm not allowed');
    expect(jwtVerifySpy).not.toHaveBeenCalled();
    expect(tenant.jwksFetches + tenant.discoveryFetches).toBe(0);
  });

  it('refuses HS256 signed with the IdP public key bytes (algorithm confusion)', async () => {
    const tenant = idp.tenant([rsa]);
    const pem = await jose.exportSPKI(rsa.publicKey);
    const jwkBytes = JSON.stringify(rsa.publicJwk);
    const verifier = verifierFor([idpConfig(tenant)]);
    for (const secret of [pem, jwkBytes]) {
      const token = forge({ alg: 'HS256', kid: rsa.kid }, claimsFor(tenant), (input) =>
        createHmac('sha256', secret).update(input).digest(),
      );
      await expectRefused(verifier.verify(token), 'algorithm not allowed');
    }
    expect(jwtVerifySpy).not.toHaveBeenCalled();
  });

  it('never accepts none or HS256 even when a config lists them', async () => {
    const tenant = idp.tenant([rsa]);
    const config = idpConfig(tenant);
    const careless = {
      ...config,
      algorithms: ['RS256', 'HS256', 'none'] as unknown as OidcIdpConfig['algorithms'],
    };
    const verifier = verifierFor([careless]);
    const pem = await jose.exportSPKI(rsa.publicKey);
    const hs = forge({ alg: 'HS256', kid: rsa.kid }, claimsFor(tenant), (input) =>
      createHmac('sha256', pem).update(input).digest(),
    );
    await expectRefused(verifier.verify(hs), 'algorithm not allowed');
    await expectRefused(verifier.verify(forge({ alg: 'none' }, claimsFor(tenant))), 'algorithm not allowed');
    expect((await verifier.verify(await sign(rsa, claimsFor(tenant)))).identity.issuer).toBe(tenant.issuer);
  });

  it("refuses an algorithm that is not in the IdP's allow-list", async () => {
    const tenant = idp.tenant([rsa, ec]);
    const verifier = verifierFor([idpConfig(tenant, { algorithms: ['ES256'] })]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant))), 'algorithm not allowed');
    expect(jwtVerifySpy).not.toHaveBeenCalled();
    expect((await verifier.verify(await sign(ec, claimsFor(tenant)))).identity.issuer).toBe(tenant.issuer);
  });

  it("refuses a token with an embedded jwk header signed by the attacker's key", async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    for (const kid of [attacker.kid, rsa.kid]) {
      const token = await sign(attacker, claimsFor(tenant), { kid, jwk: attacker.publicJwk });
      await expectRefused(verifier.verify(token), 'embedded key header');
    }
    expect(jwtVerifySpy).not.toHaveBeenCalled();
    expect(tenant.jwksFetches).toBe(0);
  });

  it.each([
    ['jku', () => `${idp.base}/attacker/jwks`],
    ['x5u', () => `${idp.base}/attacker/cert.pem`],
    ['x5c', () => ['MIIBszCCAVmgAwIBAgIUXg==']],
  ])('refuses a token with a %s header', async (name, value) => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(attacker, claimsFor(tenant), { [name]: value() });
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'embedded key header');
    expect(tenant.jwksFetches).toBe(0);
  });

  it('refuses a token with a crit header', async () => {
    const tenant = idp.tenant([rsa]);
    const token = forge({ alg: 'RS256', kid: rsa.kid, crit: ['exp'], exp: 1 }, claimsFor(tenant), () =>
      Buffer.from('not a signature'),
    );
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'crit header');
  });

  it('refuses a token from an unknown issuer without contacting anyone', async () => {
    const tenant = idp.tenant([rsa]);
    const stranger = { ...tenant, issuer: `${idp.base}/stranger` };
    const verifier = verifierFor([idpConfig(tenant)]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(stranger))), 'unknown issuer');
    await expectRefused(
      verifier.verify(await sign(rsa, claimsFor(tenant, { iss: `${tenant.issuer}/` }))),
      'unknown issuer',
    );
    const { iss: _iss, ...noIssuer } = claimsFor(tenant);
    await expectRefused(verifier.verify(await sign(rsa, noIssuer)), 'unknown issuer');
    expect(tenant.discoveryFetches + tenant.jwksFetches).toBe(0);
  });

  it("refuses a token for the first IdP's issuer signed with a second configured IdP's key", async () => {
    const first = idp.tenant([rsa]);
    const second = idp.tenant([otherIdpKey]);
    const verifier = verifierFor([idpConfig(first), idpConfig(second)]);
    await verifier.verify(await sign(otherIdpKey, claimsFor(second))); // the key is good for its own IdP
    await expectRefused(verifier.verify(await sign(otherIdpKey, claimsFor(first))), 'no matching key');
    const relabelled = await sign(otherIdpKey, claimsFor(first), { kid: rsa.kid });
    await expectRefused(verifier.verify(relabelled), 'signature');
  });

  it('refuses a token whose signature does not cover its claims', async () => {
    const tenant = idp.tenant([rsa]);
    const [header, , signature] = (await sign(rsa, claimsFor(tenant))).split('.');
    const tampered = `${header}.${b64(claimsFor(tenant, { sub: 'root' }))}.${signature}`;
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(tampered), 'signature');
  });

  it('refuses a token for another audience', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant, { aud: 'vault' }))), 'audience');
    await expectRefused(
      verifier.verify(await sign(rsa, claimsFor(tenant, { aud: ['vault', 'git'] }))),
      'audience',
    );
    const { aud: _aud, ...noAudience } = claimsFor(tenant);
    await expectRefused(verifier.verify(await sign(rsa, noAudience)), 'missing aud');
  });

  it('refuses every token for an IdP with no audiences configured', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant, { audiences: [] })]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant))), 'no audiences configured');
    expect(jwtVerifySpy).not.toHaveBeenCalled();
  });

  it('refuses an azp that is not a non-empty string', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant, { azp: 42 }))), 'azp claim');
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant, { azp: '' }))), 'azp claim');
  });

  it('refuses a token longer than 16 kB before hashing or parsing it', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const huge = await sign(rsa, claimsFor(tenant, { padding: 'x'.repeat(MAX_TOKEN_LENGTH) }));
    await expectRefused(verifier.verify(huge), 'token too large');
    expect(jwtVerifySpy).not.toHaveBeenCalled();
  });

  it('refuses tokens that are not three base64url parts of JSON objects', async () => {
    const verifier = verifierFor([idpConfig(idp.tenant([rsa]))]);
    await expectRefused(verifier.verify('a.b'), 'malformed');
    await expectRefused(verifier.verify('a.b.c.d'), 'malformed');
    await expectRefused(verifier.verify('eyJ+.eyJ/.sig'), 'malformed');
    await expectRefused(verifier.verify(''), 'malformed');
    await expectRefused(verifier.verify(`${b64('x').slice(0, -1)}.e30.sig`), 'malformed header');
    await expectRefused(verifier.verify(`${b64({ alg: 'RS256' })}.${b64([1])}.sig`), 'malformed payload');
    expect(jwtVerifySpy).not.toHaveBeenCalled();
  });

  it('refuses a token whose subject cannot be mapped', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const { sub: _sub, ...noSubject } = claimsFor(tenant);
    await expectRefused(verifier.verify(await sign(rsa, noSubject)), 'subject claim');
  });
});

describe('WorkloadTokenVerifier: time', () => {
  it('refuses an expired token as expired', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { iat: nowSeconds() - 900, exp: nowSeconds() - 61 }));
    const error = await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'expired');
    expect(error.code).toBe('ExpiredTokenException');
  });

  it('accepts a token expired by less than the leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { iat: nowSeconds() - 900, exp: nowSeconds() - 30 }));
    await expect(verifierFor([idpConfig(tenant)]).verify(token)).resolves.toBeDefined();
  });

  it('refuses a token without exp', async () => {
    const tenant = idp.tenant([rsa]);
    const { exp: _exp, ...noExpiry } = claimsFor(tenant);
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(await sign(rsa, noExpiry)), 'missing exp');
  });

  it('refuses a token whose nbf is in the future beyond the leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { nbf: nowSeconds() + 61 }));
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'not yet valid');
  });

  it('accepts a token whose nbf is in the future within the leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { nbf: nowSeconds() + 30, iat: nowSeconds() + 30 }));
    await expect(verifierFor([idpConfig(tenant)]).verify(token)).resolves.toBeDefined();
  });

  it('refuses a token issued in the future beyond the leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { iat: nowSeconds() + 61 }));
    await expectRefused(verifierFor([idpConfig(tenant)]).verify(token), 'issued in the future');
  });

  it('applies a configured leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const token = await sign(rsa, claimsFor(tenant, { nbf: nowSeconds() + 30 }));
    await expectRefused(
      verifierFor([idpConfig(tenant)], { leewaySeconds: 10 }).verify(token),
      'not yet valid',
    );
  });
});

describe('WorkloadTokenVerifier: JWKS, rotation and discovery', () => {
  it('accepts a token signed with a key published after start, after one JWKS refetch', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }); // jose's JWKS cooldown runs on the wall clock
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)], { jwksCooldownMs: 30_000 });
    await verifier.verify(await sign(rsa, claimsFor(tenant)));
    expect(tenant.jwksFetches).toBe(1);

    tenant.keys.push(rotated.publicJwk);
    vi.setSystemTime(Date.now() + 30_001);
    const result = await verifier.verify(await sign(rotated, claimsFor(tenant)));
    expect(result.identity.issuer).toBe(tenant.issuer);
    expect(tenant.jwksFetches).toBe(2);
  });

  it('fetches the JWKS at most once per cooldown for a burst of unknown-kid tokens', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)], { jwksCooldownMs: 30_000 });
    await verifier.verify(await sign(rsa, claimsFor(tenant)));
    expect(tenant.jwksFetches).toBe(1);

    const burst = async (label: string) => {
      const tokens = await Promise.all(
        Array.from({ length: 25 }, (_, i) => sign(attacker, claimsFor(tenant), { kid: `${label}-${i}` })),
      );
      const results = await Promise.allSettled(tokens.map((token) => verifier.verify(token)));
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toMatchObject({ reason: 'no matching key' });
      }
    };

    await burst('within-cooldown');
    expect(tenant.jwksFetches).toBe(1);

    vi.setSystemTime(Date.now() + 30_001);
    await burst('after-cooldown');
    expect(tenant.jwksFetches).toBe(2);
    await burst('again');
    expect(tenant.jwksFetches).toBe(2);

    vi.setSystemTime(Date.now() + 30_001);
    await burst('next-cooldown');
    expect(tenant.jwksFetches).toBe(3);
  });

  it('discovers the JWKS once and reuses it', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    await Promise.all([1, 2, 3].map(async (n) => verifier.verify(await sign(rsa, claimsFor(tenant, { n })))));
    await verifier.verify(await sign(rsa, claimsFor(tenant, { n: 4 })));
    expect(tenant.discoveryFetches).toBe(1);
    expect(tenant.jwksFetches).toBe(1);
  });

  it('uses a configured jwksUri without discovery', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant, { jwksUri: `${tenant.issuer}/jwks` })]);
    await verifier.verify(await sign(rsa, claimsFor(tenant)));
    expect(tenant.discoveryFetches).toBe(0);
    expect(tenant.jwksFetches).toBe(1);
  });

  it('refuses when discovery reports a different issuer (mix-up)', async () => {
    const tenant = idp.tenant([rsa]);
    tenant.discoveryIssuer = `${idp.base}/someone-else`;
    const verifier = verifierFor([idpConfig(tenant)]);
    await expectRefused(verifier.verify(await sign(rsa, claimsFor(tenant))), 'discovery issuer mismatch');
    expect(tenant.jwksFetches).toBe(0);
  });

  it('refuses a discovered jwks_uri that is plain http on a non-loopback host', async () => {
    const tenant = idp.tenant([rsa]);
    tenant.discoveryJwksUri = 'http://keys.corp.example/jwks';
    const verifier = verifierFor([idpConfig(tenant)]);
    await expectRefused(
      verifier.verify(await sign(rsa, claimsFor(tenant))),
      'discovery jwks_uri missing or not https',
    );
  });

  it('answers 503 IDPCommunicationError when the JWKS cannot be fetched, and recovers', async () => {
    const tenant = idp.tenant([rsa]);
    tenant.jwksStatus = 500;
    const verifier = verifierFor([idpConfig(tenant)]);
    const token = await sign(rsa, claimsFor(tenant));
    const error: unknown = await verifier.verify(token).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AppError);
    expect(error).not.toBeInstanceOf(InvalidIdentityTokenError);
    expect(error).toMatchObject({ status: 503, code: 'IDPCommunicationError' });

    tenant.jwksStatus = 200;
    await expect(verifier.verify(token)).resolves.toBeDefined();
  });

  it('answers 503 IDPCommunicationError when discovery cannot be reached', async () => {
    const down = { ...idp.tenant(), issuer: 'http://127.0.0.1:1/down', name: 'down' };
    const verifier = verifierFor([idpConfig(down)]);
    await expect(verifier.verify(await sign(rsa, claimsFor(down)))).rejects.toMatchObject({
      status: 503,
      code: 'IDPCommunicationError',
    });
  });
});

describe('WorkloadTokenVerifier: configuration', () => {
  const at = (issuer: string, extra: Record<string, unknown> = {}) =>
    idpConfig({ ...idp.tenant(), issuer, name: 'corp' }, extra);

  it('refuses an http issuer on a non-loopback host', () => {
    expect(() => verifierFor([at('http://login.corp.example')])).toThrow(ConfigError);
    expect(() => verifierFor([at('http://login.corp.example')])).toThrow('idps[corp].issuer');
  });

  it('refuses an http jwksUri on a non-loopback host', () => {
    const config = at('https://login.corp.example', { jwksUri: 'http://login.corp.example/jwks' });
    expect(() => verifierFor([config])).toThrow('idps[corp].jwksUri');
  });

  it('accepts https anywhere and http on loopback hosts', () => {
    for (const issuer of [
      'https://login.corp.example',
      'http://localhost:8080/dev',
      'http://127.0.0.2:9000',
      'http://[::1]:9000/idp',
    ]) {
      expect(() => verifierFor([at(issuer)])).not.toThrow();
    }
  });

  it('refuses two IdPs with the same issuer', () => {
    const first = at('https://login.corp.example');
    const second = { ...first, id: 'corp-workloads' };
    expect(() => verifierFor([first, second])).toThrow('same issuer as idp "corp"');
  });
});

describe('WorkloadTokenVerifier: verified-token cache', () => {
  it('answers a second verify of the same token without crypto or network', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const token = await sign(rsa, claimsFor(tenant));
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(jwtVerifySpy).toHaveBeenCalledTimes(1);
    expect(tenant.jwksFetches).toBe(1);
  });

  it('verifies a burst of the same token once', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const token = await sign(rsa, claimsFor(tenant));
    await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    expect(jwtVerifySpy).toHaveBeenCalledTimes(1);
  });

  it('fails an expired cached token once the pinned clock passes exp and the leeway', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const start = clock.now();
    try {
      const token = await sign(rsa, claimsFor(tenant, { exp: nowSeconds() + 120 }));
      await verifier.verify(token);
      clock.advance(119_000);
      await verifier.verify(token);
      expect(jwtVerifySpy).toHaveBeenCalledTimes(1);

      clock.advance(30_000); // past exp, within the leeway: verified again, still accepted
      await verifier.verify(token);
      expect(jwtVerifySpy).toHaveBeenCalledTimes(2);

      clock.advance(60_000); // past exp + leeway
      const error = await expectRefused(verifier.verify(token), 'expired');
      expect(error.code).toBe('ExpiredTokenException');
    } finally {
      clock.set(start);
    }
  });

  it('re-verifies a long-lived token after MAX_CACHE_AGE_MS, so a withdrawn key stops being trusted', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const start = clock.now();
    try {
      const token = await sign(rsa, claimsFor(tenant, { exp: nowSeconds() + 24 * 3600 }));
      await verifier.verify(token);
      clock.advance(MAX_CACHE_AGE_MS - 1000);
      await verifier.verify(token);
      expect(jwtVerifySpy).toHaveBeenCalledTimes(1);
      clock.advance(2000);
      await verifier.verify(token);
      expect(jwtVerifySpy).toHaveBeenCalledTimes(2);
    } finally {
      clock.set(start);
    }
  });

  it('keeps at most cacheMaxEntries tokens, evicting the least recently used', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)], { cacheMaxEntries: 2 });
    const [a, b, c] = await Promise.all([1, 2, 3].map((n) => sign(rsa, claimsFor(tenant, { n }))));
    await verifier.verify(a!);
    await verifier.verify(b!);
    await verifier.verify(a!); // a is now the most recently used
    await verifier.verify(c!); // evicts b
    expect(jwtVerifySpy).toHaveBeenCalledTimes(3);
    await verifier.verify(a!);
    expect(jwtVerifySpy).toHaveBeenCalledTimes(3);
    await verifier.verify(b!);
    expect(jwtVerifySpy).toHaveBeenCalledTimes(4);
  });

  it('does not let a caller change what the cache returns to the next caller', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const token = await sign(rsa, claimsFor(tenant, { groups: ['readers'], team: 'blue' }));
    const first = await verifier.verify(token);
    first.identity.groups.push('admins');
    first.identity.attributes.team = 'red';
    const second = await verifier.verify(token);
    expect(second.identity.groups).toEqual(['readers']);
    expect(second.identity.attributes.team).toBe('blue');
  });

  it('does not cache refusals', async () => {
    const tenant = idp.tenant([rsa]);
    const verifier = verifierFor([idpConfig(tenant)]);
    const token = await sign(rsa, claimsFor(tenant, { aud: 'vault' }));
    await expectRefused(verifier.verify(token), 'audience');
    await expectRefused(verifier.verify(token), 'audience');
    expect(jwtVerifySpy).toHaveBeenCalledTimes(2);
  });
});
