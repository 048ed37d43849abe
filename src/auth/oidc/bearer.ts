import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import { BoundedMap } from '../../bounded-map.js';
import type { Clock } from '../../clock.js';
import { ConfigError, type ConfigProblem } from '../../config/errors.js';
import type { OidcIdpConfig } from '../../config/schema.js';
import { AppError, IdpUnreachableError, InvalidIdentityTokenError } from '../../errors.js';
import type { Identity } from '../identity.js';
import { identityFromClaims } from './claims.js';
import { isAllowedIdpUrl } from './transport.js';

/**
 * Verifies workload OIDC tokens (Kubernetes service-account tokens, CI OIDC tokens, client-credentials
 * access tokens: "web identity") presented as `Authorization: Bearer`, and maps them to an Identity.
 *
 * Order of checks, cheapest and least trusting first:
 * 1. Shape, before any crypto or network: at most MAX_TOKEN_LENGTH characters, three base64url parts,
 *    JSON header and payload.
 * 2. Header: `alg` must be in the IdP's allow-list (never `none` or HS*, whatever the config says: an
 *    HMAC "keyed" with the IdP's public key is the classic algorithm-confusion forgery); headers that
 *    carry or point to a key (`jwk`, `jku`, `x5u`, `x5c`) and `crit` are refused outright. jose would
 *    ignore embedded keys for key selection anyway; refusing them makes an attempt visible in the audit.
 * 3. The *unverified* `iss` only selects which configured IdP's keys to try (exact string match); nothing
 *    else from the unverified payload is used.
 * 4. jose `jwtVerify` against that IdP's JWKS: signature, `iss`, `aud` (the IdP's `audiences`), `exp`
 *    (required), `nbf`, with `leewaySeconds` of clock tolerance at the injected clock's time; then `iat`
 *    not in the future (jose only checks that with maxTokenAge) and the `azp` shape.
 * 5. Claims → Identity (claims.ts), keyed by `(iss, sub)`.
 *
 * Failures are InvalidIdentityTokenError with a precise internal `reason` (`expired: true` for `exp`);
 * an IdP that cannot be reached (discovery or JWKS fetch fails) is a 503 `IDPCommunicationError`, so a
 * workload retries instead of concluding its token is bad.
 *
 * `azp`: OIDC Core §3.1.3.7 compares `azp` with the relying party's client id. That rule is for an ID
 * token the relying party itself requested (the browser flow, where openid-client applies it). In a
 * workload access token `azp` names the client that obtained the token (the workload), not fedproxy,
 * and a multi-audience access token is normal (Kubernetes TokenRequest, Keycloak). So here `azp` is not
 * compared with the audiences and is not required with several audiences; when present it must be a
 * non-empty string, and it reaches the identity as the `${oidc:azp}` attribute, for audit and templates.
 * The audience check (one of *our* audiences is in `aud`) is what binds the token to fedproxy.
 */

/** Longest token accepted; anything longer is refused before hashing, parsing or crypto. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Header parameters that carry or point to a verification key. */
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
const DISCOVERY_TIMEOUT_MS = 5_000;
const MAX_DISCOVERY_BYTES = 256 * 1024;

export interface WorkloadTokenVerifierOptions {
  clock: Clock;
  /** Clock tolerance for `exp`, `nbf` and `iat`, seconds. Default 60. */
  leewaySeconds?: number;
  /**
   * After a JWKS fetch, an unknown `kid` triggers another fetch only once this much time has passed
   * (jose's `cooldownDuration`, measured on the wall clock). Default 30 000 ms.
   */
  jwksCooldownMs?: number;
  /** How many verified tokens are remembered (LRU); 0 disables the cache. Default 10 000. */
  cacheMaxEntries?: number;
}

export interface VerifiedWorkloadToken {
  identity: Identity;
  idp: OidcIdpConfig;
  /** The token's `exp`, ms since epoch: credentials minted from it may be bound to it. */
  expiresAt: number;
  /** The token's `aud` value that matched one of the IdP's audiences. */
  audience: string;
}

interface TrustedIssuer {
  idp: OidcIdpConfig;
  /** The IdP's allow-list minus anything symmetric or unsigned. */
  algorithms: string[];
  /** The IdP's key resolver; from discovery on first use unless `jwksUri` is configured. */
  keys: Promise<RemoteJWKSet> | undefined;
}

export class WorkloadTokenVerifier {
  readonly #issuers = new Map<string, TrustedIssuer>();
  readonly #clock: Clock;
  readonly #leewaySeconds: number;
  readonly #jwksCooldownMs: number;
  readonly #cache: VerifiedTokenCache;
  /** Verifications in progress, by token hash: a burst of the same token is verified once. */
  readonly #inFlight = new Map<string, Promise<VerifiedWorkloadToken>>();

  /**
   * Takes every configured OIDC IdP. Refuses (ConfigError, listing every problem) an issuer or
   * `jwksUri` that is not https (plain http only on loopback: the development IdP and tests), and two
   * IdPs with the same issuer (a token could not say which one's audiences and mappings apply).
   *
   * An IdP with no `audiences` stays known but refuses every bearer token: accepting any audience would
   * let a token minted for another service be replayed here.
   */
  constructor(idps: readonly OidcIdpConfig[], options: WorkloadTokenVerifierOptions) {
    this.#clock = options.clock;
    this.#leewaySeconds = nonNegative('leewaySeconds', options.leewaySeconds ?? 60);
    this.#jwksCooldownMs = nonNegative('jwksCooldownMs', options.jwksCooldownMs ?? 30_000);
    this.#cache = new VerifiedTokenCache(options.cacheMaxEntries ?? 10_000);

    const problems: ConfigProblem[] = [];
    for (const idp of idps) {
      const path = `idps[${idp.id}]`;
      if (!isAllowedIdpUrl(idp.issuer)) {
        problems.push({ path: `${path}.issuer`, message: 'must be an https URL (http only on loopback)' });
      }
      if (idp.jwksUri !== undefined && !isAllowedIdpUrl(idp.jwksUri)) {
        problems.push({ path: `${path}.jwksUri`, message: 'must be an https URL (http only on loopback)' });
      }
      const other = this.#issuers.get(idp.issuer);
      if (other !== undefined) {
        problems.push({ path: `${path}.issuer`, message: `same issuer as idp "${other.idp.id}"` });
        continue;
      }
      this.#issuers.set(idp.issuer, {
        idp,
        algorithms: idp.algorithms.filter((alg) => isAsymmetricAlgorithm(alg)),
        keys: undefined,
      });
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /**
   * Verifies `token` and maps it to an Identity. A token verified before and not yet past its `exp` (by
   * the injected clock) is answered from the cache without crypto; past `exp` it is verified again,
   * which applies the leeway and then fails as expired.
   */
  async verify(token: string): Promise<VerifiedWorkloadToken> {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidIdentityTokenError('token too large');
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.#cache.get(key, this.#clock.now());
    if (cached !== undefined) return copyResult(cached);

    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = this.#verifyUncached(token, key).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return copyResult(await pending);
  }

  async #verifyUncached(token: string, cacheKey: string): Promise<VerifiedWorkloadToken> {
    const { header, payload } = decodeUnverified(token);

    for (const name of EMBEDDED_KEY_HEADERS) {
      if (Object.hasOwn(header, name)) throw new InvalidIdentityTokenError('embedded key header');
    }
    if (Object.hasOwn(header, 'crit')) throw new InvalidIdentityTokenError('crit header');

    const issuer = typeof payload.iss === 'string' ? this.#issuers.get(payload.iss) : undefined;
    if (issuer === undefined) throw new InvalidIdentityTokenError('unknown issuer');
    const { idp } = issuer;
    if (typeof header.alg !== 'string' || !issuer.algorithms.includes(header.alg)) {
      throw new InvalidIdentityTokenError('algorithm not allowed');
    }
    // No configured audience: refuse everything rather than accept tokens minted for anyone.
    if (idp.audiences.length === 0) throw new InvalidIdentityTokenError('no audiences configured');

    const jwks = await this.#keysOf(issuer);
    const now = this.#clock.now();
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keyResolver(jwks), {
        algorithms: issuer.algorithms,
        issuer: idp.issuer,
        audience: idp.audiences,
        clockTolerance: this.#leewaySeconds,
        currentDate: new Date(now),
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw verificationError(error);
    }

    if (typeof claims.iat === 'number' && claims.iat * 1000 > now + this.#leewaySeconds * 1000) {
      throw new InvalidIdentityTokenError('issued in the future');
    }
    if (claims.azp !== undefined && (typeof claims.azp !== 'string' || claims.azp === '')) {
      throw new InvalidIdentityTokenError('azp claim');
    }
    if (typeof claims.exp !== 'number') throw new InvalidIdentityTokenError('invalid exp'); // jose checked; for the type
    const expiresAt = Math.floor(claims.exp * 1000);
    const identity = identityFromClaims(idp, claims, {
      // As the browser flow: the IdP's auth_time when given, else the moment the token was verified.
      authTime: typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : now,
      expiresAt,
    });
    const audiences: unknown[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const audience = audiences.find(
      (aud): aud is string => typeof aud === 'string' && idp.audiences.includes(aud),
    );
    if (audience === undefined) throw new InvalidIdentityTokenError('audience'); // jose checked; for the type
    const result: VerifiedWorkloadToken = { identity, idp, expiresAt, audience };
    this.#cache.set(cacheKey, result, now);
    return result;
  }

  /**
   * The IdP's JWKS resolver. With `jwksUri` configured it is used as is; otherwise it comes from OIDC
   * discovery, whose `issuer` must equal the configured one exactly (issuer mix-up) and whose
   * `jwks_uri` must pass the same https rule. A successful discovery is kept for the life of the
   * verifier (key rotation happens inside the JWKS, not in discovery); a failed one is retried by the
   * next token.
   */
  #keysOf(issuer: TrustedIssuer): Promise<RemoteJWKSet> {
    issuer.keys ??= (async () => {
      const url = issuer.idp.jwksUri ?? (await discoverJwksUri(issuer.idp));
      return createRemoteJWKSet(new URL(url), { cooldownDuration: this.#jwksCooldownMs });
    })().catch((error: unknown) => {
      issuer.keys = undefined;
      throw error;
    });
    return issuer.keys;
  }
}

/** The schema's enum already excludes them; this holds even if a config slips past the schema. */
function isAsymmetricAlgorithm(alg: string): boolean {
  return alg !== 'none' && !alg.toUpperCase().startsWith('HS');
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number`);
  return value;
}

/** Splits and JSON-decodes header and payload without verifying anything. */
function decodeUnverified(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  if (!COMPACT_JWS.test(token)) throw new InvalidIdentityTokenError('malformed');
  const [header, payload] = token.split('.') as [string, string, string];
  return {
    header: decodeJsonObject(header, 'malformed header'),
    payload: decodeJsonObject(payload, 'malformed payload'),
  };
}

function decodeJsonObject(part: string, reason: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new InvalidIdentityTokenError(reason, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidIdentityTokenError(reason);
  return value as Record<string, unknown>;
}

/**
 * Fetches `<issuer>/.well-known/openid-configuration` (any trailing slash of the issuer removed first,
 * as OIDC Discovery §4 says) and returns its `jwks_uri`. No redirects are followed.
 */
async function discoverJwksUri(idp: OidcIdpConfig): Promise<string> {
  const url = `${idp.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let document: unknown;
  try {
    const response = await fetch(url, {
      redirect: 'manual',
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
      headers: { accept: 'application/json' },
    });
    if (response.status !== 200) throw new Error(`discovery answered HTTP ${response.status}`);
    const body = await response.arrayBuffer();
    if (body.byteLength > MAX_DISCOVERY_BYTES) throw new Error('discovery document too large');
    document = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (cause) {
    throw new IdpUnreachableError(undefined, { cause });
  }
  if (typeof document !== 'object' || document === null)
    throw new IdpUnreachableError(undefined, { cause: new Error('discovery is not JSON') });
  const { issuer, jwks_uri: jwksUri } = document as { issuer?: unknown; jwks_uri?: unknown };
  // Issuer mix-up: another issuer's metadata must never supply keys for this one.
  if (issuer !== idp.issuer) throw new InvalidIdentityTokenError('discovery issuer mismatch');
  if (typeof jwksUri !== 'string' || !isAllowedIdpUrl(jwksUri)) {
    throw new InvalidIdentityTokenError('discovery jwks_uri missing or not https');
  }
  return jwksUri;
}

/**
 * Wraps the JWKS resolver so that key-selection failures are token failures (no key with that `kid` and
 * `alg`, even after the one refetch the cooldown allows) and everything else (fetch failed, timed out,
 * not 200, not a JWKS) is the IdP being unreachable.
 */
function keyResolver(jwks: RemoteJWKSet): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) throw new InvalidIdentityTokenError('no matching key');
      if (error instanceof errors.JWKSMultipleMatchingKeys)
        throw new InvalidIdentityTokenError('ambiguous key');
      if (error instanceof errors.JOSENotSupported)
        throw new InvalidIdentityTokenError('algorithm not supported');
      throw new IdpUnreachableError(undefined, { cause: error });
    }
  };
}

/** Reasons for a failed check of a claim that is present and well-typed. */
const CLAIM_REASONS: Readonly<Record<string, string>> = {
  iss: 'issuer',
  aud: 'audience',
  nbf: 'not yet valid',
  iat: 'issued in the future',
};

/** Maps what jwtVerify threw to a precise reason; errors that are not jose's (bugs) pass through. */
function verificationError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired)
    return new InvalidIdentityTokenError('expired', { expired: true, cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason =
      error.reason === 'check_failed'
        ? (CLAIM_REASONS[error.claim] ?? `claim ${error.claim}`)
        : `${error.reason === 'missing' ? 'missing' : 'invalid'} ${error.claim}`;
    return new InvalidIdentityTokenError(reason, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidIdentityTokenError('signature', { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new InvalidIdentityTokenError('algorithm not allowed', { cause: error });
  }
  if (error instanceof errors.JOSEError)
    return new InvalidIdentityTokenError(`malformed (${error.code})`, { cause: error });
  return error;
}

/** Callers get their own copy: a caller that edits the identity must not change what the cache holds. */
function copyResult(result: VerifiedWorkloadToken): VerifiedWorkloadToken {
  const attributes = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of Object.entries(result.identity.attributes)) {
    attributes[name] = Array.isArray(value) ? [...value] : value;
  }
  return {
    identity: { ...result.identity, groups: [...result.identity.groups], attributes },
    idp: result.idp,
    expiresAt: result.expiresAt,
    audience: result.audience,
  };
}

/**
 * Verified tokens by SHA-256 of the token, least recently used evicted first. An entry lives until the
 * token's `exp` or for `MAX_CACHE_AGE_MS` after verification, whichever comes first (by the injected
 * clock), so a key the IdP withdraws stops being trusted within that bound even for long-lived tokens.
 * After that the token is verified again. The token itself is never stored.
 */
export const MAX_CACHE_AGE_MS = 10 * 60_000;

class VerifiedTokenCache {
  readonly #entries: BoundedMap<{ result: VerifiedWorkloadToken; staleAt: number }>;

  constructor(maxEntries: number) {
    this.#entries = new BoundedMap(maxEntries);
  }

  get(key: string, now: number): VerifiedWorkloadToken | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.staleAt <= now) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.result;
  }

  set(key: string, result: VerifiedWorkloadToken, now: number): void {
    if (result.expiresAt <= now) return;
    this.#entries.set(key, { result, staleAt: Math.min(result.expiresAt, now + MAX_CACHE_AGE_MS) });
  }
}
