/**
 * `fedproxy/verifier`: Express middleware for resource services that accept requests signed with
 * fedproxy-vended credentials (any AWS SDK signs them). For each request it authenticates the SigV4
 * signature and asks whether the principal may do the action on the resource the route describes;
 * allowed requests continue with `res.locals.fedproxy = { principal, reason }`, others get 403 with the
 * reason (or 503 when no decision could be made: nothing is allowed by default).
 *
 * Two ways to decide, same answers:
 * - `remoteAuthorizer({ url, token })` calls fedproxy's `POST /v1/authorize` (no keys needed);
 * - `localAuthorizer(config)` checks in-process with the key ring and the store (Redis) that fedproxy
 *   uses: no network hop to fedproxy, but the service holds the derivation keys.
 *
 * The middleware reads the body itself (the signature covers its hash): mount it before any body parser.
 * JSON bodies arrive parsed in `req.body`, others as a Buffer; the raw bytes are in `req.rawBody`.
 */
import type { Request, RequestHandler } from 'express';
import type { AuthorizeInput, AuthorizeResult } from '../credentials/authorize.js';
import { signedRequestParts } from '../http/signed-request.js';
import type { RequestContext } from '../policy/evaluate.js';

export type { AuthorizedPrincipal, AuthorizeInput, AuthorizeResult } from '../credentials/authorize.js';
export { localAuthorizer } from './local.js';

export interface Authorizer {
  authorize(input: AuthorizeInput): Promise<AuthorizeResult>;
}

export interface RemoteAuthorizerOptions {
  /** fedproxy's base URL, e.g. https://fedproxy.corp.example */
  url: string;
  /** A verifier token whose SHA-256 is in fedproxy's `verifiers`. */
  token: string;
  timeoutMs?: number;
}

/** Decides through fedproxy's `POST /v1/authorize`. */
export function remoteAuthorizer(options: RemoteAuthorizerOptions): Authorizer {
  const endpoint = new URL('/v1/authorize', options.url);
  return {
    async authorize(input) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(input),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
      if (!response.ok) throw new Error(`fedproxy answered ${response.status} to /v1/authorize`);
      return (await response.json()) as AuthorizeResult;
    },
  };
}

export interface RequireAuthorizationOptions {
  authorizer: Authorizer;
  /** The SigV4 signing name clients use for this service (the SDK's `signingName`), e.g. `reports`. */
  service: string;
  /** The IAM action and resource a request needs, e.g. `{ action: 'reports:GetReport', resource: 'arn:…' }`. */
  describe(req: Request): { action: string; resource: string; context?: RequestContext };
  /** Largest body read and hashed; larger requests are refused with 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

type RequestWithBody = Request & { rawBody?: Buffer; _body?: boolean };

/** Reads the body once into `req.rawBody` (the payload hash needs the bytes) and parses JSON into `req.body`. */
async function readBody(req: RequestWithBody, limit: number): Promise<void> {
  if (req.rawBody !== undefined) return;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  req.rawBody = raw;
  // Mark the body as read so a body parser mounted later does not wait for a stream that has ended.
  req._body = true;
  req.body = raw.length > 0 && req.is('application/json') ? JSON.parse(raw.toString('utf8')) : raw;
}

function deny(res: Parameters<RequestHandler>[1], status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export function requireAuthorization(options: RequireAuthorizationOptions): RequestHandler {
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  return async (req, res, next) => {
    try {
      await readBody(req as RequestWithBody, limit);
    } catch (error) {
      const status = (error as { status?: number }).status === 413 ? 413 : 400;
      deny(
        res,
        status,
        status === 413 ? 'PayloadTooLarge' : 'ValidationError',
        'The request body could not be read',
      );
      return;
    }
    let described: ReturnType<RequireAuthorizationOptions['describe']>;
    try {
      described = options.describe(req);
    } catch (error) {
      next(error);
      return;
    }
    let result: AuthorizeResult;
    try {
      result = await options.authorizer.authorize({
        request: signedRequestParts(req),
        service: options.service,
        action: described.action,
        resource: described.resource,
        context: { ...described.context, ...(req.ip === undefined ? {} : { 'aws:SourceIp': req.ip }) },
      });
    } catch {
      deny(res, 503, 'ServiceUnavailable', 'The authorization service is unavailable; try again shortly');
      return;
    }
    if (!result.allowed) {
      deny(
        res,
        403,
        result.code ?? 'AccessDenied',
        result.code === undefined ? `Access denied: ${result.reason}` : result.reason,
      );
      return;
    }
    res.locals.fedproxy = { principal: result.principal, reason: result.reason };
    next();
  };
}
