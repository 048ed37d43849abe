import express, { Router, type RequestHandler, type Response } from 'express';
import type { IdpConfig } from '../config/schema.js';
import type { AppError } from '../errors.js';
import type { CredentialIssuer } from '../credentials/issuer.js';
import type { IssuedCredentials } from '../credentials/credentials.js';
import type { RoleResolver } from '../policy/role-resolver.js';
import { callerOf, requireCsrf } from './authenticate.js';
import { awsTimestamp, credentialsJson } from './credential-shapes.js';
import { viewsDir, type PortalViews } from './views.js';

export interface DemoUserHint {
  username: string;
  password: string;
  groups: readonly string[];
}

export interface PortalRouteDeps {
  issuer: CredentialIssuer;
  resolver: RoleResolver;
  idps: readonly IdpConfig[];
  publicUrl: string;
  views: PortalViews;
  /** Sets res.locals.caller; the portal acts only for login-session callers. */
  authenticate: RequestHandler;
  limits: { mintByIp: RequestHandler; mintByPrincipal: RequestHandler };
  /** Shown on the sign-in page in development mode. */
  demoUsers?: readonly DemoUserHint[];
}

function durationChoices(
  max: number,
  preferred: number,
): { seconds: number; label: string; selected: boolean }[] {
  const candidates = [900, 3600, 4 * 3600, 8 * 3600, 12 * 3600].filter((s) => s <= max);
  if (!candidates.includes(max)) candidates.push(max);
  return candidates.map((seconds) => ({
    seconds,
    label:
      seconds < 3600
        ? `${seconds / 60} minutes`
        : seconds === 3600
          ? '1 hour'
          : `${+(seconds / 3600).toFixed(2)} hours`,
    selected: seconds === Math.min(preferred, max),
  }));
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function credentialsPage(credentials: IssuedCredentials, role: string, publicUrl: string) {
  const exportLines = [
    `export AWS_ACCESS_KEY_ID=${shellQuote(credentials.accessKeyId)}`,
    `export AWS_SECRET_ACCESS_KEY=${shellQuote(credentials.secretAccessKey)}`,
    `export AWS_SESSION_TOKEN=${shellQuote(credentials.sessionToken)}`,
  ].join('\n');
  const awsConfig = [
    `[profile fedproxy-${role}]`,
    `credential_process = fedproxy credential-process --url ${publicUrl} --role ${role}`,
  ].join('\n');
  return {
    title: `Credentials for ${role}`,
    role,
    expiration: awsTimestamp(credentials.expiration),
    sessionId: credentials.sessionId,
    reused: credentials.reused,
    exportLines,
    json: JSON.stringify(credentialsJson(credentials), null, 2),
    awsConfig,
  };
}

/**
 * The portal: `GET /` (your roles, or the sign-in choices), `GET /login`, and the "get credentials"
 * form post. Credentials pages are never cached.
 */
export function portalRoutes(deps: PortalRouteDeps): Router {
  const router = Router();
  const providers = deps.idps
    .filter((idp) => idp.type === 'saml' || idp.browser)
    .map((idp) => ({
      name: idp.displayName ?? idp.id,
      loginUrl: `/auth/${idp.type}/${idp.id}/login`,
    }));

  router.use('/assets', express.static(`${viewsDir}assets`, { index: false, maxAge: '1h' }));

  const signInPage = (res: Response) =>
    res
      .type('html')
      .send(deps.views.render('signin', { title: 'Sign in', providers, demoUsers: deps.demoUsers ?? [] }));

  router.get('/login', (_req, res) => signInPage(res));

  router.get('/', deps.authenticate, (_req, res) => {
    const caller = callerOf(res);
    if (caller?.kind !== 'session') {
      signInPage(res);
      return;
    }
    const { identity } = caller;
    const roles = deps.resolver.rolesFor(identity).map(({ role, reasons }) => ({
      name: role.name,
      description: role.description,
      reasons,
      durations: durationChoices(role.maxSessionDuration, role.defaultSessionDuration ?? 3600),
    }));
    res
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(
        deps.views.render('home', {
          title: 'Your roles',
          user: identity.username,
          csrfToken: caller.session.csrfToken,
          identity,
          roles,
        }),
      );
  });

  router.post(
    '/portal/credentials',
    (_req, res, next) => {
      // A person submitted a form: answer errors with a page, not JSON.
      res.locals.renderError = (error: AppError, message: string) =>
        res
          .type('html')
          .send(deps.views.render('error', { title: `Could not get credentials (${error.code})`, message }));
      next();
    },
    deps.limits.mintByIp,
    deps.authenticate,
    requireCsrf(deps.publicUrl),
    deps.limits.mintByPrincipal,
    async (req, res) => {
      const caller = callerOf(res);
      if (caller?.kind !== 'session') {
        res.redirect(303, '/login');
        return;
      }
      const body = req.body as Record<string, unknown>;
      const role = typeof body.role === 'string' ? body.role : '';
      const duration = typeof body.durationSeconds === 'string' ? Number(body.durationSeconds) : undefined;
      const credentials = await deps.issuer.issue(caller.identity, role, { durationSeconds: duration });
      res
        .set('Cache-Control', 'no-store')
        .type('html')
        .send(
          deps.views.render('credentials', {
            ...credentialsPage(credentials, role, deps.publicUrl),
            user: caller.identity.username,
            csrfToken: caller.session.csrfToken,
          }),
        );
    },
  );

  return router;
}
