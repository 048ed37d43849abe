import express, { Router, type RequestHandler } from 'express';
import type { LoginSessions } from '../auth/login-session.js';
import { SamlResponseError } from '../auth/saml/refusal.js';
import { REQUEST_TTL_MS, type SamlServiceProvider } from '../auth/saml/service-provider.js';
import { NotFoundError } from '../errors.js';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../log.js';
import { beginLoginSession, renderSignInFailure, safeReturnTo } from './auth.js';
import { cookieHeader, readCookie, type CookieSettings } from './authenticate.js';

/** Binds an SP-initiated SAML sign-in to the browser that started it (HTTPS only: SameSite=None). */
const SAML_BINDING_COOKIE = '__Host-fp_saml_binding';
import type { PortalViews } from './views.js';

export interface SamlRouteDeps {
  /** One per configured SAML IdP, by IdP id (createSamlServiceProviders). */
  serviceProviders: ReadonlyMap<string, SamlServiceProvider>;
  loginSessions: LoginSessions;
  cookies: CookieSettings;
  sessionTtlMs: number;
  limits: { signIn: RequestHandler };
  views: PortalViews;
  logger: Logger;
  audit: AuditLog;
}

/**
 * The SAML 2.0 service provider routes, per IdP:
 *
 * - `GET /auth/saml/:idp/login?returnTo=/path`: starts an SP-initiated sign-in (303 to the IdP with an
 *   HTTP-Redirect AuthnRequest). `returnTo` is kept server-side with the request id, never sent to the IdP.
 * - `POST /auth/saml/:idp/acs`: the assertion consumer service (HTTP-POST binding). A cross-site POST from
 *   the IdP's page: it carries no CSRF token and no SameSite=Lax cookie by design; the signed response
 *   and its InResponseTo (single use, stored) are the defence. A valid response starts a login session
 *   exactly as the OIDC callback does (beginLoginSession) and redirects (303) to the returnTo of its
 *   request, or, for an accepted unsolicited response, to a same-site RelayState path.
 * - `GET /auth/saml/:idp/metadata`: SP metadata XML for registering fedproxy at the IdP.
 *
 * The ACS reads its body with its own parser, bounded before parsing (3 × `maxResponseBytes`: URL encoding
 * can triple base64), and the SAMLResponse field is bounded again at `maxResponseBytes` before it is
 * decoded (covering the case where an application-wide parser read the body first). A failed sign-in
 * shows the failure page with the error's status (413 for the size) and is logged with its check and
 * reason, never with the SAMLResponse.
 *
 * Mount this router before any application-wide body parser, so oversized posts get the failure page.
 */
export function samlRoutes(deps: SamlRouteDeps): Router {
  const router = Router();

  const providerFor = (id: unknown): SamlServiceProvider => {
    const provider = typeof id === 'string' ? deps.serviceProviders.get(id) : undefined;
    if (provider === undefined) throw new NotFoundError('No such identity provider');
    return provider;
  };

  const bodyParsers = new Map(
    [...deps.serviceProviders].map(([id, provider]) => [
      id,
      express.urlencoded({
        limit: 3 * provider.idp.maxResponseBytes + 16 * 1024,
        extended: false,
        parameterLimit: 10,
      }),
    ]),
  );

  /** The ACS body, or the failure page when it is too large or malformed. */
  const acsBody: RequestHandler = (req, res, next) => {
    const provider = providerFor(req.params.idp);
    const parse = bodyParsers.get(provider.idp.id);
    if (parse === undefined) throw new NotFoundError('No such identity provider');
    void parse(req, res, (error?: unknown) => {
      if (error === undefined) {
        next();
        return;
      }
      const type = (error as { type?: unknown }).type;
      const refusal =
        type === 'entity.too.large'
          ? new SamlResponseError('size', 'the ACS form body exceeds its limit')
          : type === 'parameters.too.many' || type === 'entity.parse.failed'
            ? new SamlResponseError('encoding', 'the ACS form body is malformed')
            : error;
      renderSignInFailure(deps, res, provider.idp.id, 'saml', refusal).catch(next);
    });
  };

  router.get('/auth/saml/:idp/login', deps.limits.signIn, async (req, res) => {
    const provider = providerFor(req.params.idp);
    const { redirectTo, binding } = await provider.startSignIn(safeReturnTo(req.query.returnTo), {
      bindToBrowser: deps.cookies.secure,
    });
    if (binding !== undefined) {
      // SameSite=None: it must come back on the IdP's cross-site POST to the ACS (HTTPS only).
      res.append(
        'Set-Cookie',
        cookieHeader(deps.cookies, SAML_BINDING_COOKIE, binding, REQUEST_TTL_MS, 'none'),
      );
    }
    res.set('Cache-Control', 'no-store').redirect(303, redirectTo);
  });

  router.post('/auth/saml/:idp/acs', deps.limits.signIn, acsBody, async (req, res) => {
    const provider = providerFor(req.params.idp);
    res.set('Cache-Control', 'no-store');
    const body = (req.body ?? {}) as Record<string, unknown>;
    let result;
    try {
      if (typeof body.SAMLResponse !== 'string' || body.SAMLResponse === '')
        throw new SamlResponseError('encoding', 'the ACS form has no SAMLResponse');
      result = await provider.finishSignIn(body.SAMLResponse, readCookie(req, SAML_BINDING_COOKIE));
    } catch (error) {
      await renderSignInFailure(deps, res, provider.idp.id, 'saml', error);
      return;
    }
    await beginLoginSession(deps, req, res, result.identity);
    res.redirect(303, result.returnTo ?? safeReturnTo(body.RelayState));
  });

  router.get('/auth/saml/:idp/metadata', (req, res) => {
    const provider = providerFor(req.params.idp);
    res.type('application/samlmetadata+xml').send(provider.metadataXml());
  });

  return router;
}
