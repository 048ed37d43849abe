import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { parseRequest } from './parse-request.js';
import { namedTokenFrom } from '../auth/secret-compare.js';
import type { RequestAuthorizer } from '../credentials/authorize.js';
import { AccessDeniedError, AuthenticationError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * `POST /v1/authorize`: a resource service asks whether the caller of a request it received may do
 * `action` on `resource`. The resource service authenticates with a verifier token (config `verifiers`,
 * kept as SHA-256). Every input is bounded: wildcard matching costs pattern × text, so context values are
 * capped before they reach the evaluator.
 */
const scalar = z.union([z.string().max(1024), z.number(), z.boolean()]);
const headerValue = z.union([z.string().max(8192), z.array(z.string().max(8192)).max(16)]);

const authorizeRequest = z
  .strictObject({
    request: z
      .strictObject({
        method: z.string().regex(/^[A-Z]{1,16}$/),
        path: z.string().min(1).max(4096),
        query: z
          .record(z.string().max(256), z.union([z.string().max(4096), z.array(z.string().max(4096)).max(16)]))
          .default({}),
        headers: z.record(z.string().max(256), headerValue),
        payloadHash: z.string().regex(/^([0-9a-f]{64}|UNSIGNED-PAYLOAD)$/),
      })
      .optional(),
    sessionToken: z.string().min(1).max(4096).optional(),
    service: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/)
      .optional(),
    action: z.string().min(3).max(256),
    resource: z.string().min(1).max(2048),
    context: z.record(z.string().min(1).max(256), z.union([scalar, z.array(scalar).max(50)])).default({}),
  })
  .refine((body) => (body.request === undefined) !== (body.sessionToken === undefined), {
    message: 'give exactly one of request or sessionToken',
  })
  // A signed request is bound to the service it was signed for: without it, a request seen by one
  // service could be replayed to another within the signature's five minutes.
  .refine((body) => body.request === undefined || body.service !== undefined, {
    message: 'a signed request needs the service (signing name) it was sent to',
    path: ['service'],
  })
  .refine((body) => Object.keys(body.context).length <= 50, {
    message: 'at most 50 context keys',
    path: ['context'],
  })
  .refine((body) => body.request === undefined || Object.keys(body.request.headers).length <= 100, {
    message: 'at most 100 headers',
    path: ['request', 'headers'],
  });

export interface AuthorizeRouteDeps {
  authorizer: RequestAuthorizer;
  /** Hex SHA-256 of each verifier token, by name. */
  verifiers: readonly { name: string; sha256: string }[];
  logger: Logger;
}

export function authorizeRoutes(deps: AuthorizeRouteDeps): Router {
  const router = Router();
  const requireVerifier: RequestHandler = (req, res, next) => {
    if (req.headers.authorization === undefined)
      throw new AuthenticationError('A verifier token is required');
    const name = namedTokenFrom(req.headers.authorization, deps.verifiers);
    if (name === undefined) throw new AccessDeniedError('Not a verifier token');
    res.locals.verifier = name;
    next();
  };

  router.post('/v1/authorize', requireVerifier, async (req, res) => {
    const body = parseRequest(authorizeRequest, req.body, 'body');
    const { request, sessionToken, service, action, resource, context } = body;
    const result = await deps.authorizer.authorize({
      ...(request === undefined ? {} : { request }),
      ...(sessionToken === undefined ? {} : { sessionToken }),
      ...(service === undefined ? {} : { service }),
      action,
      resource,
      context,
    });
    deps.logger.info(
      {
        event: result.allowed ? 'authorize.allowed' : 'authorize.denied',
        verifier: res.locals.verifier as string,
        sessionId: result.principal?.sessionId,
        action,
        resource: resource.slice(0, 256),
        code: result.code,
        reason: result.reason,
      },
      'authorization decision',
    );
    res.set('Cache-Control', 'no-store').json(result);
  });
  return router;
}
