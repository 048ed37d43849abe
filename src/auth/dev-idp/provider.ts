import { generateKeyPair, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import type { Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { DEV_IDP_BROWSER_CLIENT_ID } from '../../config/dev-idp.js';
import { handleInteraction, interactionPath, interactionUid } from './interactions.js';
import {
  errorPage,
  logoutPage,
  messagePage,
  pageHeaders,
  sendPage,
  STYLESHEET,
  STYLESHEET_PATH,
} from './pages.js';
import type { PageContext } from './pages.js';
import { DEMO_USERS, demoUserClaims } from './users.js';
import type { DemoUser } from './users.js';

/**
 * An embedded development OpenID provider: the real, certified `oidc-provider` with demo users, fedproxy
 * as a browser client and a demo workload client. `npm start` mounts it at /dev-idp; tests run it as
 * their real IdP (test/support/oidc-idp.ts). Everything lives in memory and dies with the process:
 * signing keys, cookie keys, sessions, grants.
 *
 * Not for production: the demo passwords are published, and the loader refuses `devIdp.enabled` in
 * production mode.
 */

export const WORKLOAD_CLIENT_ID = 'demo-workload';
/** The groups the demo workload's tokens carry (mapped to a role in config/dev.yaml). */
export const WORKLOAD_GROUPS: readonly string[] = Object.freeze(['ci-deployers']);

/** Lifetimes, seconds: short, but long enough to click through a demo. */
const TTL = {
  AccessToken: 3600,
  ClientCredentials: 3600,
  IdToken: 3600,
  AuthorizationCode: 60,
  Interaction: 600,
  Session: 8 * 3600,
  Grant: 8 * 3600,
} as const;

export interface DevIdentityProviderOptions {
  /**
   * The issuer exactly as clients will see it, e.g. `http://127.0.0.1:8080/dev-idp`. Its path is where
   * the handler must be mounted (or `http://127.0.0.1:<port>` for a server of its own).
   */
  issuer: string;
  /** fedproxy's callback URLs: the browser client's only allowed redirect URIs. */
  fedproxyRedirectUris: string[];
  /** The browser client's secret (client_secret_basic). */
  clientSecret: string;
  /** The demo workload's secret (client_credentials, client_secret_basic). */
  workloadSecret: string;
  /** The `aud` of the demo workload's (JWT) access tokens. */
  audience: string;
  /** Unexpected errors (bugs, not bad requests); they are answered with a 500 page either way. */
  onServerError?: (error: unknown) => void;
}

export interface DevIdentityProvider {
  readonly issuer: string;
  /**
   * Serves the provider and its login pages; works as a `node:http` request listener and as Express
   * middleware (`app.use(<issuer path>, handler)`). It ends every request itself (never calls next) and
   * reads request bodies itself, so mount it before any body parser.
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly users: readonly DemoUser[];
  readonly browserClient: { readonly clientId: string; readonly clientSecret: string };
  readonly workloadClient: {
    readonly clientId: string;
    readonly clientSecret: string;
    /** The token endpoint issues this workload a JWT access token for `audience` by default. */
    readonly audience: string;
    /** The RFC 8707 resource indicator for that audience, if a client wants to name it explicitly. */
    readonly resource: string;
    readonly groups: readonly string[];
  };
  /** Nothing to release today (memory only); call it anyway, so a future store can be closed. */
  close(): Promise<void>;
}

export async function createDevIdentityProvider(
  options: DevIdentityProviderOptions,
): Promise<DevIdentityProvider> {
  const issuerUrl = new URL(options.issuer);
  const context: PageContext = { basePath: issuerUrl.pathname.replace(/\/+$/, '') };
  const headers = pageHeaders(options.fedproxyRedirectUris.map((uri) => new URL(uri).origin));
  const resource = resourceIndicatorFor(options.audience);
  const users = DEMO_USERS;

  const configuration: Configuration = {
    // The package's own memory adapter, but constructed here: the implicit default prints a production
    // warning at every start (right for it, noise for us) and would share one store among all providers
    // in the process.
    adapter: createMemoryAdapter(),
    jwks: await ephemeralSigningKeys(),
    // Signs the provider's cookies; random per process, like everything else here.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [
      {
        client_id: DEV_IDP_BROWSER_CLIENT_ID,
        client_secret: options.clientSecret,
        client_name: 'fedproxy',
        redirect_uris: options.fedproxyRedirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: WORKLOAD_CLIENT_ID,
        client_secret: options.workloadSecret,
        client_name: 'demo workload',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Claims of the granted scopes go into the ID token too (not only userinfo): fedproxy reads groups
    // from the ID token, as it does with Okta or Entra.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    // PKCE for every authorization request, confidential client or not (oidc-provider only insists on
    // it for public clients by default).
    pkce: { required: () => true, methods: ['S256'] },
    findAccount: (_ctx, sub) => {
      const user = users.find((candidate) => candidate.sub === sub);
      return user && { accountId: user.sub, claims: () => demoUserClaims(user) };
    },
    extraTokenClaims: (_ctx, token) =>
      token.kind === 'ClientCredentials' && token.clientId === WORKLOAD_CLIENT_ID
        ? { groups: [...WORKLOAD_GROUPS] }
        : undefined,
    interactions: {
      url: (_ctx, interaction) => interactionPath(context, interaction.uid),
      policy: passwordEveryTime(),
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The workload gets a JWT for the audience without naming it (`-d grant_type=client_credentials`
        // is the whole request); browser sign-in keeps an opaque token for userinfo.
        defaultResource: (_ctx, client, oneOf) => (client.clientId === WORKLOAD_CLIENT_ID ? resource : oneOf),
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: '',
            audience: options.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: TTL.ClientCredentials,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => renderInto(ctx, logoutPage(context, form, ctx.host), headers),
        postLogoutSuccessSource: (ctx) =>
          renderInto(
            ctx,
            messagePage(context, 'Signed out', 'You are signed out of the development IdP.'),
            headers,
          ),
      },
    },
    // No browser JavaScript talks to this IdP: no CORS for anyone.
    clientBasedCORS: () => false,
    renderError: (ctx, out) => renderInto(ctx, errorPage(context, out), headers),
    ttl: { ...TTL },
  };

  const provider = new Provider(options.issuer, configuration);
  // Every response of the provider gets the pages' security headers. oidc-provider renders one page
  // itself with an inline script (the auto-submitting form that ends the previous user's session when
  // another one signs in); it adds that script's hash to `script-src`, so only that exact script runs.
  // (Caching is left to oidc-provider: it marks its sensitive responses no-store itself.)
  const { 'Cache-Control': _pagesOnly, ...securityHeaders } = headers;
  const providerHeaders = {
    ...securityHeaders,
    'Content-Security-Policy': `${headers['Content-Security-Policy']}; script-src 'self'`,
  };
  provider.use(async (ctx, next) => {
    for (const [name, value] of Object.entries(providerHeaders)) ctx.set(name, value);
    await next();
  });
  const onServerError = options.onServerError;
  if (onServerError !== undefined)
    provider.on('server_error', (_ctx: unknown, error: unknown) => onServerError(error));
  const providerCallback = provider.callback();
  const interactionDeps = { provider, users, context, headers };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = requestPath(req);
    if (pathname === STYLESHEET_PATH) {
      res.writeHead(200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=3600' });
      res.end(STYLESHEET);
      return;
    }
    const uid = interactionUid(pathname);
    if (uid === undefined) {
      void providerCallback(req, res);
      return;
    }
    handleInteraction(req, res, uid, interactionDeps).catch((error: unknown) => {
      onServerError?.(error);
      if (res.headersSent) res.destroy();
      else
        sendPage(
          res,
          500,
          messagePage(context, 'Something went wrong', 'The sign-in could not be completed.'),
          headers,
        );
    });
  };

  return {
    issuer: options.issuer,
    handler,
    users,
    browserClient: { clientId: DEV_IDP_BROWSER_CLIENT_ID, clientSecret: options.clientSecret },
    workloadClient: {
      clientId: WORKLOAD_CLIENT_ID,
      clientSecret: options.workloadSecret,
      audience: options.audience,
      resource,
      groups: WORKLOAD_GROUPS,
    },
    close: () => Promise.resolve(),
  };
}

/**
 * RFC 8707 requires resource indicators to be absolute URIs, while an audience such as `fedproxy` is not
 * one: such an audience is named `urn:fedproxy:audience:<audience>`.
 */
export function resourceIndicatorFor(audience: string): string {
  return URL.canParse(audience) ? audience : `urn:fedproxy:audience:${encodeURIComponent(audience)}`;
}

/**
 * The standard login and consent prompts, plus: the login prompt runs on every authorization request,
 * even with an IdP session, so a demo can switch users without clearing cookies. (`prompt=none` then
 * answers login_required, as it would for a signed-out user.)
 */
function passwordEveryTime(): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (login === undefined) throw new Error('oidc-provider has no login prompt');
  login.checks.push(
    new interactionPolicy.Check(
      'dev_password_every_time',
      'the development IdP asks for a password on every sign-in',
      'login_required',
      (ctx) =>
        ctx.oidc.result?.login === undefined
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  return policy;
}

/** RS256 and ES256 signing keys, generated at start; the public halves are at <issuer>/jwks. */
async function ephemeralSigningKeys(): Promise<{ keys: JWK[] }> {
  const generate = promisify(generateKeyPair);
  const [rsa, ec] = await Promise.all([
    generate('rsa', { modulusLength: 2048 }),
    generate('ec', { namedCurve: 'P-256' }),
  ]);
  const jwk = (key: typeof rsa.privateKey, alg: string): JWK => ({
    ...(key.export({ format: 'jwk' }) as JWK),
    kid: `dev-${alg.toLowerCase()}-${randomBytes(6).toString('base64url')}`,
    alg,
    use: 'sig',
  });
  return { keys: [jwk(rsa.privateKey, 'RS256'), jwk(ec.privateKey, 'ES256')] };
}

/** The path below the mount point (Express strips it from req.url); '' when the URL does not parse. */
function requestPath(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://dev-idp.invalid').pathname;
  } catch {
    return '';
  }
}

function renderInto(ctx: KoaContextWithOIDC, html: string, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  ctx.type = 'html';
  ctx.body = html;
}
