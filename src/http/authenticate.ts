import type { Request, RequestHandler, Response } from 'express';
import { parse as parseCookies, serialize } from 'cookie';
import type { Identity } from '../auth/identity.js';
import { csrfTokenMatches, type LoginSession, type LoginSessions } from '../auth/login-session.js';
import type { WorkloadTokenVerifier } from '../auth/oidc/bearer.js';
import { AccessDeniedError, AuthenticationError } from '../errors.js';

/**
 * Who is calling. Two ways in, never both at once:
 * - a browser login session (cookie), which is ambient: state-changing requests also need the CSRF
 *   defence (`requireCsrf`);
 * - an IdP token in `Authorization` (workloads), which is not ambient and needs no CSRF defence.
 */
export type Caller =
  | { kind: 'session'; sessionId: string; session: LoginSession; identity: Identity }
  | { kind: 'token'; identity: Identity; expiresAt: number };

export function callerOf(res: Response): Caller | undefined {
  return res.locals.caller as Caller | undefined;
}

/** The caller, or 401. */
export function requireCaller(res: Response): Caller {
  const caller = callerOf(res);
  if (caller === undefined)
    throw new AuthenticationError('Sign in, or present an identity token as a Bearer token');
  return caller;
}

/**
 * Cookie names and the Secure flag. Over HTTPS the names carry the `__Host-` prefix (Secure, Path=/, no
 * Domain), so a sibling subdomain cannot plant its own session or binding value; on plain-HTTP loopback
 * they do not (browsers refuse the prefix without Secure).
 */
export interface CookieSettings {
  sessionCookie: string;
  /** The OIDC sign-in's browser binding (login CSRF). */
  oidcBindingCookie: string;
  secure: boolean;
}

export function cookieSettings(publicUrl: string): CookieSettings {
  const secure = new URL(publicUrl).protocol === 'https:';
  const prefix = secure ? '__Host-' : '';
  return { sessionCookie: `${prefix}fp_session`, oidcBindingCookie: `${prefix}fp_oidc_binding`, secure };
}

/**
 * A Set-Cookie value with the attributes every fedproxy cookie has: HttpOnly, Path=/, no Domain, Secure
 * over HTTPS. `maxAgeMs` 0 clears the cookie. SameSite=Lax unless `none` is asked for (a cookie that must
 * come back on an IdP's cross-site POST; browsers accept it only with Secure).
 */
export function cookieHeader(
  settings: Pick<CookieSettings, 'secure'>,
  name: string,
  value: string,
  maxAgeMs: number,
  sameSite: 'lax' | 'none' = 'lax',
): string {
  return serialize(name, value, {
    httpOnly: true,
    secure: settings.secure,
    path: '/',
    sameSite,
    maxAge: maxAgeMs / 1000,
  });
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 8192) return undefined;
  return parseCookies(header)[name];
}

/** Reads `Authorization`: `Bearer <token>`, or (where the AWS container-credentials client sends it) the raw token. */
function tokenFrom(req: Request, allowRaw: boolean): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined || header === '') return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  if (allowRaw && /^\S+$/.test(header)) return header;
  throw new AuthenticationError('Unsupported Authorization scheme; use Bearer <token>');
}

export interface AuthenticateDeps {
  loginSessions: LoginSessions;
  workloadTokens: WorkloadTokenVerifier;
  cookies: CookieSettings;
}

/**
 * Sets `res.locals.caller` when the request carries a valid token or login session; a request that
 * carries an invalid token fails (no silent fallback to the cookie). Routes decide whether a caller is
 * required. `allowSession: false` for routes that mint on GET (container credentials): an ambient
 * cookie must not be enough there.
 */
export function authenticate(
  deps: AuthenticateDeps,
  options: { allowRawToken?: boolean; allowSession?: boolean } = {},
): RequestHandler {
  const allowSession = options.allowSession ?? true;
  return async (req, res, next) => {
    try {
      const token = tokenFrom(req, options.allowRawToken ?? false);
      if (token !== undefined) {
        const { identity, expiresAt } = await deps.workloadTokens.verify(token);
        res.locals.caller = { kind: 'token', identity, expiresAt } satisfies Caller;
      } else if (allowSession) {
        const sessionId = readCookie(req, deps.cookies.sessionCookie);
        const session = sessionId === undefined ? null : await deps.loginSessions.get(sessionId);
        if (sessionId !== undefined && session !== null) {
          res.locals.caller = {
            kind: 'session',
            sessionId,
            session,
            identity: session.identity,
          } satisfies Caller;
        }
      }
      next();
    } catch (error) {
      next(error);
    }
  };
}

/**
 * CSRF defence for cookie-authenticated, state-changing requests: the Origin (or, without it, the
 * Referer) must be fedproxy's own, and the session's CSRF token must come back in the `X-CSRF-Token`
 * header or a `csrfToken` body field. Token callers pass: a bearer token is not sent by the browser
 * on its own. The body field is taken out of the body for every caller, so the handlers' strict schemas
 * never meet it.
 */
export function requireCsrf(publicUrl: string): RequestHandler {
  const ownOrigin = new URL(publicUrl).origin;
  return (req, res, next) => {
    const bodyToken = takeBodyCsrfToken(req.body);
    const caller = callerOf(res);
    if (caller?.kind !== 'session' || ['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      next();
      return;
    }
    const origin = req.headers.origin ?? originOf(req.headers.referer);
    if (origin !== ownOrigin) {
      next(new AccessDeniedError('Cross-site request refused'));
      return;
    }
    const presented = req.headers['x-csrf-token'] ?? bodyToken;
    if (!csrfTokenMatches(caller.session, presented)) {
      next(new AccessDeniedError('Missing or wrong CSRF token'));
      return;
    }
    next();
  };
}

function takeBodyCsrfToken(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, 'csrfToken')) return undefined;
  const { csrfToken } = body as { csrfToken: unknown };
  delete (body as { csrfToken?: unknown }).csrfToken;
  return csrfToken;
}

function originOf(referer: string | undefined): string | undefined {
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
