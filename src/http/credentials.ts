import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { noStore, parseRequest, requireJson } from './parse-request.js';
import type { CredentialIssuer } from '../credentials/issuer.js';
import type { AppError } from '../errors.js';
import type { RoleResolver } from '../policy/role-resolver.js';
import { requireCaller, requireCsrf } from './authenticate.js';
import { containerCredentialsJson, credentialsJson } from './credential-shapes.js';

export interface CredentialRouteDeps {
  issuer: CredentialIssuer;
  resolver: RoleResolver;
  accountId: string;
  publicUrl: string;
  /** Sets res.locals.caller from a token or login session. */
  authenticate: RequestHandler;
  /** Like authenticate, but also accepts a raw token in Authorization (container-credentials clients). */
  authenticateRawToken: RequestHandler;
  limits: { mintByIp: RequestHandler; mintByPrincipal: RequestHandler };
}

const credentialsRequest = z.strictObject({
  role: z.string().min(1).max(64),
  durationSeconds: z.unknown().optional(),
  sessionName: z.unknown().optional(),
  policy: z.unknown().optional(),
});

/**
 * `GET /v1/me`, `POST /v1/credentials` and `GET /v1/container-credentials/:role`: credentials for the
 * caller, who is a signed-in browser (cookie + CSRF defence) or a workload presenting its IdP token.
 */
export function credentialRoutes(deps: CredentialRouteDeps): Router {
  const router = Router();

  router.get('/v1/me', noStore, deps.authenticate, (_req, res) => {
    const caller = requireCaller(res);
    const { identity } = caller;
    res.json({
      // A browser client sends this back in X-CSRF-Token on state-changing requests.
      ...(caller.kind === 'session' ? { csrfToken: caller.session.csrfToken } : {}),
      identity: {
        idp: identity.idp,
        issuer: identity.issuer,
        subject: identity.subject,
        username: identity.username,
        ...(identity.email === undefined ? {} : { email: identity.email }),
        groups: identity.groups,
      },
      roles: deps.resolver.rolesFor(identity).map(({ role, reasons }) => ({
        name: role.name,
        description: role.description,
        maxSessionDuration: role.maxSessionDuration,
        reasons: reasons.map(({ mappingIndex, mapping, group }) => ({
          mapping: mappingIndex,
          group,
          ...(mapping.group === undefined ? { groupPattern: mapping.groupPattern } : {}),
          ...(mapping.idp === undefined ? {} : { idp: mapping.idp }),
        })),
      })),
    });
  });

  router.post(
    '/v1/credentials',
    noStore,
    deps.limits.mintByIp,
    deps.authenticate,
    requireCsrf(deps.publicUrl),
    deps.limits.mintByPrincipal,
    async (req, res) => {
      const { identity } = requireCaller(res);
      requireJson(req);
      const body = parseRequest(credentialsRequest, req.body, 'body');
      const { role, durationSeconds, sessionName, policy } = body;
      const credentials = await deps.issuer.issue(identity, role, {
        durationSeconds,
        sessionName,
        sessionPolicy: policy,
      });
      res.json(credentialsJson(credentials));
    },
  );

  router.get(
    '/v1/container-credentials/:role',
    noStore,
    (_req, res, next) => {
      // AWS SDK container-credential clients read `{Code, Message}` from an error body.
      res.locals.renderError = (error: AppError, message: string) =>
        res.json({ Code: error.code, Message: message });
      next();
    },
    deps.limits.mintByIp,
    deps.authenticateRawToken,
    deps.limits.mintByPrincipal,
    async (req, res) => {
      const { identity } = requireCaller(res);
      const credentials = await deps.issuer.issue(identity, String(req.params.role), {});
      res.json(containerCredentialsJson(credentials, deps.accountId));
    },
  );

  return router;
}
