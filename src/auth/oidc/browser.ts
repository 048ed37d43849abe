import * as oidc from 'openid-client';
import type { Clock } from '../../clock.js';
import type { OidcIdpConfig } from '../../config/schema.js';
import { IdpUnreachableError, InvalidIdentityTokenError, ValidationError } from '../../errors.js';
import type { Store } from '../../store/types.js';
import type { Identity } from '../identity.js';
import { bindingMatches, newBrowserBinding } from '../secret-compare.js';
import { identityFromClaims } from './claims.js';
import { isLoopbackUrl } from './transport.js';

/**
 * Browser sign-in with one OpenID Connect IdP: authorization code flow with PKCE (S256), `state` and
 * `nonce`, always all three.
 *
 * - `state` is random, stored in the store for 10 minutes and consumed atomically (single use); the
 *   record also holds the hash of a random *binding* value that lives only in an HttpOnly cookie of the
 *   browser that started the flow, so a callback URL replayed in another browser fails (login CSRF).
 * - The discovered issuer must equal the configured one exactly (openid-client checks it); ID token
 *   `iss`, `aud`, `azp`, `exp`, `iat` and `nonce` are checked by openid-client.
 * - http:// IdPs are accepted only on loopback addresses (the development IdP and tests).
 */
export const STATE_TTL_MS = 10 * 60_000;
const STATE_NAMESPACE = 'oidc-state';

interface PendingSignIn {
  idp: string;
  binding: string;
  codeVerifier: string;
  nonce: string;
  returnTo: string;
}

export class OidcBrowserSignIn {
  #configuration: Promise<oidc.Configuration> | undefined;

  constructor(
    readonly idp: OidcIdpConfig,
    private readonly deps: { store: Store; clock: Clock; redirectUri: string },
  ) {}

  /** The callback URL registered at the IdP. */
  get redirectUri(): string {
    return this.deps.redirectUri;
  }

  /** Discovery is lazy and cached; a failed discovery is retried on the next sign-in. */
  private configuration(): Promise<oidc.Configuration> {
    this.#configuration ??= oidc
      .discovery(
        new URL(this.idp.issuer),
        this.idp.clientId ?? '',
        { id_token_signed_response_alg: this.idp.algorithms[0] ?? 'RS256' },
        oidc.ClientSecretBasic(this.idp.clientSecret ?? ''),
        { execute: isLoopbackUrl(this.idp.issuer) ? [oidc.allowInsecureRequests] : [] },
      )
      .catch((error: unknown) => {
        this.#configuration = undefined;
        throw new IdpUnreachableError(undefined, { cause: error });
      });
    return this.#configuration;
  }

  /** Begins a sign-in: where to send the browser, and the binding value to set as its cookie. */
  async start(returnTo: string): Promise<{ redirectTo: URL; binding: string }> {
    const configuration = await this.configuration();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const binding = newBrowserBinding();
    const pending: PendingSignIn = {
      idp: this.idp.id,
      binding: binding.stored,
      codeVerifier,
      nonce,
      returnTo,
    };
    await this.deps.store.once.putIfAbsent(STATE_NAMESPACE, state, JSON.stringify(pending), STATE_TTL_MS);
    const redirectTo = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.deps.redirectUri,
      scope: this.idp.scopes.join(' '),
      response_type: 'code',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { redirectTo, binding: binding.value };
  }

  /**
   * Completes a sign-in from the callback URL the browser arrived with and the binding cookie it sent.
   * Returns the identity and where the user wanted to go.
   */
  async finish(
    callbackUrl: URL,
    binding: string | undefined,
  ): Promise<{ identity: Identity; returnTo: string }> {
    const error = callbackUrl.searchParams.get('error');
    if (error !== null)
      throw new ValidationError(`The identity provider refused the sign-in (${error.slice(0, 64)})`);
    const state = callbackUrl.searchParams.get('state');
    if (state === null || state.length > 128) throw new ValidationError('The sign-in response has no state');
    const stored = await this.deps.store.once.take(STATE_NAMESPACE, state);
    if (stored === null) throw new ValidationError('The sign-in expired or was already used; start again');
    const pending = JSON.parse(stored) as PendingSignIn;
    if (pending.idp !== this.idp.id || !bindingMatches(pending.binding, binding)) {
      throw new ValidationError('The sign-in was started in another browser; start again');
    }
    const configuration = await this.configuration();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (cause) {
      throw new InvalidIdentityTokenError(`code exchange failed: ${(cause as Error).message}`, { cause });
    }
    const claims = tokens.claims();
    if (claims === undefined) throw new InvalidIdentityTokenError('no ID token');
    let allClaims: Record<string, unknown> = { ...claims };
    if (this.idp.claimsFromUserinfo) {
      const userinfo = await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub);
      allClaims = { ...userinfo, ...claims };
    }
    const identity = identityFromClaims(this.idp, allClaims, {
      authTime: typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : this.deps.clock.now(),
      expiresAt: claims.exp * 1000,
    });
    return { identity, returnTo: pending.returnTo };
  }
}
