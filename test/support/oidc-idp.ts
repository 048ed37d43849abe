import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDevIdentityProvider } from '../../src/auth/dev-idp/provider.js';
import type { DevIdentityProvider } from '../../src/auth/dev-idp/provider.js';
import type { DemoUser } from '../../src/auth/dev-idp/users.js';

/**
 * The tests' real OpenID provider: the development IdP (oidc-provider with the demo users, fedproxy's
 * browser client and the demo workload) on its own `node:http` server at http://127.0.0.1:<free port>.
 *
 *   const idp = await startTestIdp({ redirectUris: ['http://127.0.0.1:5555/auth/oidc/dev/callback'] });
 *   const token = await idp.fetchWorkloadToken();            // a JWT: aud fedproxy, groups [ci-deployers]
 *   const callback = await idp.signIn(authorizationUrl, 'alice');   // the redirect URI, with ?code=
 *   await idp.close();
 *
 * The issuer has to be known before the provider is built, so the server listens on port 0 first.
 */
export interface TestIdp {
  readonly issuer: string;
  readonly users: readonly DemoUser[];
  readonly browserClient: DevIdentityProvider['browserClient'];
  readonly workloadClient: DevIdentityProvider['workloadClient'];
  /** A client-credentials access token of the demo workload. */
  fetchWorkloadToken(): Promise<string>;
  /** Signs a demo user in through the login form, from an authorization URL to the redirect URI. */
  signIn(authorizationUrl: URL, user: DemoUser | string, jar?: CookieJar): Promise<URL>;
  user(username: string): DemoUser;
  close(): Promise<void>;
}

export interface TestIdpOptions {
  /** fedproxy's callback URLs (the browser client's redirect URIs). */
  redirectUris?: string[];
  /** The workload tokens' `aud`; default `fedproxy`. */
  audience?: string;
}

export const DEFAULT_TEST_REDIRECT_URI = 'http://127.0.0.1:9/auth/oidc/dev/callback';

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let idp: DevIdentityProvider;
  try {
    idp = await createDevIdentityProvider({
      issuer,
      fedproxyRedirectUris: options.redirectUris ?? [DEFAULT_TEST_REDIRECT_URI],
      clientSecret: randomBytes(24).toString('base64url'),
      workloadSecret: randomBytes(24).toString('base64url'),
      audience: options.audience ?? 'fedproxy',
    });
  } catch (error) {
    server.close();
    throw error;
  }
  server.on('request', idp.handler);
  const user = (username: string): DemoUser => {
    const found = idp.users.find((u) => u.username === username);
    if (found === undefined) throw new Error(`no demo user ${username}`);
    return found;
  };
  return {
    issuer,
    users: idp.users,
    browserClient: idp.browserClient,
    workloadClient: idp.workloadClient,
    fetchWorkloadToken: () => fetchClientCredentialsToken(issuer, idp.workloadClient),
    signIn: (authorizationUrl, who, jar) =>
      signInAtDevIdp(issuer, authorizationUrl, typeof who === 'string' ? user(who) : who, jar),
    user,
    async close() {
      await idp.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client-credentials grant at `<issuer>/token` with client_secret_basic; the access token. */
export async function fetchClientCredentialsToken(
  issuer: string,
  client: { clientId: string; clientSecret: string },
): Promise<string> {
  const basic = Buffer.from(
    `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`,
  ).toString('base64');
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const body = (await response.json()) as { access_token?: unknown };
  if (!response.ok || typeof body.access_token !== 'string')
    throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/**
 * Cookies as a browser keeps them, minus what these tests do not need (expiry dates, Secure, domains):
 * per origin, name and path; sent to paths below the cookie's path; removed by an empty value or
 * Max-Age=0.
 */
export class CookieJar {
  readonly #cookies = new Map<string, { origin: string; path: string; name: string; value: string }>();

  header(url: URL): string {
    return [...this.#cookies.values()]
      .filter((c) => c.origin === url.origin && pathMatches(url.pathname, c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  store(url: URL, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attribute = (key: string): string | undefined =>
        attributes.find((a) => a.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      const path = attribute('path') ?? '/';
      const key = `${url.origin} ${path} ${name}`;
      if (value === '' || attribute('max-age') === '0') this.#cookies.delete(key);
      else this.#cookies.set(key, { origin: url.origin, path, name, value });
    }
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  const prefix = cookiePath.endsWith('/') ? cookiePath : `${cookiePath}/`;
  return requestPath.startsWith(prefix);
}

/** One browser request without following redirects; cookies from and into the jar. */
export async function browserFetch(
  jar: CookieJar,
  url: URL,
  init: { method?: string; form?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  const cookie = jar.header(url);
  if (cookie !== '') headers.cookie = cookie;
  if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await fetch(url, {
    method: init.method ?? (init.form === undefined ? 'GET' : 'POST'),
    headers,
    redirect: 'manual',
    ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form) }),
  });
  jar.store(url, response);
  return response;
}

export interface HtmlForm {
  readonly action: URL;
  /** The hidden inputs, as a browser would submit them. */
  readonly hidden: Record<string, string>;
  /** Whether the form asks for a password (the login form). */
  readonly hasPassword: boolean;
}

/** The first POST form of a page, or undefined when it has none. Enough HTML parsing for these pages. */
export function parseForm(html: string, base: URL): HtmlForm | undefined {
  const form = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  const action = form === null ? undefined : /\baction="([^"]*)"/.exec(form[0])?.[1];
  if (form === null || action === undefined) return undefined;
  const hidden: Record<string, string> = {};
  for (const input of form[1]?.matchAll(/<input\b[^>]*>/gi) ?? []) {
    const attribute = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(input[0])?.[1];
    const name = attribute('name');
    if (attribute('type') === 'hidden' && name !== undefined)
      hidden[name] = unescapeHtml(attribute('value') ?? '');
  }
  return {
    action: new URL(unescapeHtml(action), base),
    hidden,
    hasPassword: /\bname="password"/.test(form[1] ?? ''),
  };
}

function unescapeHtml(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * Follows redirects like a browser from `start` while the URL is below `issuer`. On a page with the login
 * form it posts the user's username and password; on a page with an auto-submitting form (oidc-provider's
 * form_post pages) it submits the hidden inputs, as the page's script would. Returns the first URL
 * outside the issuer (the client's redirect URI, with `code` and `state`, or `error`) without fetching
 * it. Fails on any other page.
 */
export async function signInAtDevIdp(
  issuer: string,
  start: URL,
  user: Pick<DemoUser, 'username' | 'password'>,
  jar: CookieJar = new CookieJar(),
): Promise<URL> {
  const below = (url: URL): boolean => url.href.startsWith(`${issuer}/`);
  let url = start;
  let form: Record<string, string> | undefined;
  for (let hop = 0; hop < 20; hop++) {
    if (!below(url)) return url;
    const response = await browserFetch(jar, url, form === undefined ? {} : { form });
    form = undefined;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      url = new URL(location, url);
      continue;
    }
    const html = await response.text();
    const page = response.status === 200 ? parseForm(html, url) : undefined;
    if (page === undefined)
      throw new Error(`sign-in stopped at ${url.href}: ${response.status} ${html.slice(0, 300)}`);
    url = page.action;
    form = page.hasPassword
      ? { username: user.username, password: user.password, action: 'login' }
      : page.hidden;
  }
  throw new Error('sign-in did not finish within 20 requests');
}

/** The test IdP as fedproxy's `corp` OIDC IdP (browser sign-in and workload tokens). */
export function corpIdpConfig(idp: TestIdp) {
  return {
    id: 'corp',
    type: 'oidc' as const,
    displayName: 'Corp SSO',
    issuer: idp.issuer,
    clientId: idp.browserClient.clientId,
    clientSecret: idp.browserClient.clientSecret,
    audiences: ['fedproxy'],
    scopes: ['openid', 'profile', 'email', 'groups'],
  };
}

/**
 * A browser signed in to fedproxy at `base` through its `corp` IdP: the cookie jar holding the login
 * session, and the session's CSRF token (from /v1/me).
 */
export async function signInThroughFedproxy(
  base: string,
  idp: TestIdp,
  user: string,
): Promise<{ jar: CookieJar; csrfToken: string }> {
  const jar = new CookieJar();
  const start = await browserFetch(jar, new URL('/auth/oidc/corp/login', base));
  if (start.status !== 303) throw new Error(`sign-in start answered ${start.status}`);
  const callback = await idp.signIn(new URL(start.headers.get('location')!), user, jar);
  const done = await browserFetch(jar, callback);
  if (done.status !== 303) throw new Error(`sign-in callback answered ${done.status}`);
  const me = (await (await browserFetch(jar, new URL('/v1/me', base))).json()) as { csrfToken: string };
  return { jar, csrfToken: me.csrfToken };
}
