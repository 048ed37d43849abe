import { Router, type Request, type RequestHandler, type Response } from 'express';
import { principalId, type Identity } from '../auth/identity.js';
import type { LoginSessions } from '../auth/login-session.js';
import { STATE_TTL_MS, type OidcBrowserSignIn } from '../auth/oidc/browser.js';
import { AppError, AuthenticationError, NotFoundError } from '../errors.js';
import { actorOf, type AuditLog } from '../audit/index.js';
import type { RevocationService } from '../credentials/revocation.js';
import type { Logger } from '../log.js';
import { callerOf, cookieHeader, readCookie, requireCsrf, type CookieSettings } from './authenticate.js';
import { revokeAudited } from './sessions.js';
import type { PortalViews } from './views.js';

export interface AuthRouteDeps {
  signIns: ReadonlyMap<string, OidcBrowserSignIn>;
  loginSessions: LoginSessions;
  cookies: CookieSettings;
  publicUrl: string;
  sessionTtlMs: number;
  authenticate: RequestHandler;
  limits: { signIn: RequestHandler };
  views: PortalViews;
  logger: Logger;
  audit: AuditLog;
  /**
   * Lets `POST /logout` revoke the caller's credentials (`revokeCredentials`). Without it such a request
   * is refused (500) rather than answered as if the credentials had been revoked.
   */
  revocations: Pick<RevocationService, 'revoke'>;
}

/** Only same-site relative paths: never `//host`, `/\host` or an absolute URL (open redirect). */
export function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(value) && value.length <= 512
    ? value
    : '/';
}

/**
 * Ends this browser's earlier login session (if its cookie came along) and starts a new one for a freshly
 * signed-in identity: a new id, so an id planted before sign-in is never promoted (no session fixation).
 * The cookie is HttpOnly and SameSite=Lax: sent on top-level navigations back from an IdP, never on
 * cross-site subrequests or posts. Shared by every browser sign-in (OIDC callback, SAML ACS).
 */
export async function beginLoginSession(
  deps: Pick<AuthRouteDeps, 'loginSessions' | 'cookies' | 'sessionTtlMs' | 'logger' | 'audit'>,
  req: Request,
  res: Response,
  identity: Identity,
): Promise<void> {
  const previous = readCookie(req, deps.cookies.sessionCookie);
  if (previous !== undefined) await deps.loginSessions.destroy(previous);
  const { id } = await deps.loginSessions.create(identity);
  res.append('Set-Cookie', cookieHeader(deps.cookies, deps.cookies.sessionCookie, id, deps.sessionTtlMs));
  await deps.audit.record({
    type: 'signin.succeeded',
    method: identity.protocol === 'saml' ? 'saml' : 'oidc',
    actor: actorOf(identity),
    groups: identity.groups.length,
  });
}

/**
 * A failed browser sign-in: logged with its reason (`reason`/`check` when the error carries them, never
 * the IdP's raw response), answered with the failure page and the error's status. Errors that are not
 * the client's (status >= 500) are rethrown for the error handler.
 */
export async function renderSignInFailure(
  deps: Pick<AuthRouteDeps, 'views' | 'logger' | 'audit'>,
  res: Response,
  idp: string,
  method: 'oidc' | 'saml',
  error: unknown,
): Promise<void> {
  const appError = error instanceof AppError ? error : undefined;
  const details = error as { reason?: unknown; check?: unknown };
  const reason = typeof details.reason === 'string' ? details.reason : (error as Error).message;
  deps.logger.info(
    {
      event: 'signin.failed',
      idp,
      code: appError?.code,
      ...(typeof details.check === 'string' ? { check: details.check } : {}),
      reason,
      cause: appError?.cause,
    },
    'sign-in failed',
  );
  // A failed audit write is already logged at error level; the refusal stands either way.
  await deps.audit
    .record({
      type: 'signin.failed',
      method,
      actor: { idp },
      code: typeof details.check === 'string' ? details.check : (appError?.code ?? 'InternalError'),
      reason: reason.slice(0, 500),
    })
    .catch(() => undefined);
  if (appError === undefined || !appError.expose) throw error;
  res
    .status(appError.status)
    .type('html')
    .send(deps.views.render('signin-failed', { title: 'Sign-in failed', message: appError.message }));
}

/**
 * OpenID Connect browser sign-in (`/auth/oidc/:idp/login`, `/auth/oidc/:idp/callback`) and
 * `POST /logout`. A successful callback replaces any earlier login session with a new one (new id:
 * no session fixation). A failed sign-in shows a page with the reason and is logged, never with the
 * raw response.
 */
export function authRoutes(deps: AuthRouteDeps): Router {
  const router = Router();
  const bindingCookie = deps.cookies.oidcBindingCookie;

  const signInFor = (id: unknown): OidcBrowserSignIn => {
    const signIn = typeof id === 'string' ? deps.signIns.get(id) : undefined;
    if (signIn === undefined) throw new NotFoundError('No such identity provider');
    return signIn;
  };

  router.get('/auth/oidc/:idp/login', deps.limits.signIn, async (req, res) => {
    const signIn = signInFor(req.params.idp);
    const { redirectTo, binding } = await signIn.start(safeReturnTo(req.query.returnTo));
    // SameSite=Lax: the IdP's redirect back is a top-level navigation from another site.
    res.append('Set-Cookie', cookieHeader(deps.cookies, bindingCookie, binding, STATE_TTL_MS));
    res.set('Cache-Control', 'no-store').redirect(303, redirectTo.href);
  });

  router.get('/auth/oidc/:idp/callback', deps.limits.signIn, async (req, res) => {
    const signIn = signInFor(req.params.idp);
    res.set('Cache-Control', 'no-store');
    res.append('Set-Cookie', cookieHeader(deps.cookies, bindingCookie, '', 0));
    let result;
    try {
      // The redirect URI the flow started with, plus the parameters the IdP sent: one source of truth.
      const callbackUrl = new URL(signIn.redirectUri);
      callbackUrl.search = new URL(req.originalUrl, deps.publicUrl).search;
      result = await signIn.finish(callbackUrl, readCookie(req, bindingCookie));
    } catch (error) {
      await renderSignInFailure(deps, res, signIn.idp.id, 'oidc', error);
      return;
    }
    await beginLoginSession(deps, req, res, result.identity);
    res.redirect(303, result.returnTo);
  });

  /**
   * Ends the login session. With `revokeCredentials: true` (JSON) or `revokeCredentials=true` (form), it
   * first revokes every credential of the caller's principal issued up to now (every session, on every
   * instance), so a failure leaves the user signed in to try again rather than signed out with live keys.
   */
  router.post('/logout', deps.authenticate, requireCsrf(deps.publicUrl), async (req, res) => {
    const caller = callerOf(res);
    const body = req.body as Record<string, unknown> | undefined;
    const revoke = body?.revokeCredentials === true || body?.revokeCredentials === 'true';
    if (revoke) {
      // Nothing identifies whose credentials to revoke: say so rather than pretend they were revoked.
      if (caller === undefined) throw new AuthenticationError('Sign in to revoke your credentials');
      const principal = principalId(caller.identity);
      await revokeAudited(
        deps,
        { scope: 'principal', value: principal, reason: 'logout' },
        { actor: actorOf(caller.identity), req },
      );
    }
    if (caller?.kind === 'session') await deps.loginSessions.destroy(caller.sessionId);
    res.append('Set-Cookie', cookieHeader(deps.cookies, deps.cookies.sessionCookie, '', 0));
    if (req.accepts(['html', 'json']) === 'json') res.status(204).end();
    else res.redirect(303, '/');
  });

  return router;
}
