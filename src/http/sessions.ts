import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { noStore, parseRequest } from './parse-request.js';
import { actorOf, type AuditActor, type AuditLog } from '../audit/index.js';
import { principalId } from '../auth/identity.js';
import type { RevocationRequest, RevocationResult, RevocationService } from '../credentials/revocation.js';
import { NotFoundError } from '../errors.js';
import type { SessionIndex, SessionRecord, SessionStore } from '../store/types.js';
import { requireCaller, requireCsrf } from './authenticate.js';

/**
 * `GET /v1/sessions` and `DELETE /v1/sessions/:id`: a signed-in caller (browser session or workload IdP
 * token) lists and revokes the credential sessions issued to their own principal. Also home of the
 * session listing pieces the admin API shares (query schema, record view).
 */

/** The largest page a listing answers; `limit` defaults to DEFAULT_PAGE_SIZE. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 50;

/** Query fields every session listing takes. Cursors are opaque; the store rejects a malformed one (400). */
export const pageQuery = {
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'limit must be an integer')
    .transform(Number)
    .pipe(z.int().min(1).max(MAX_PAGE_SIZE))
    .optional(),
  cursor: z.string().min(1).max(512).optional(),
  /** `include=policy` adds the effective policy and session policy text to each record. */
  include: z.literal('policy').optional(),
};

const ownSessionsQuery = z.strictObject(pageQuery);

/** Session ids come from URLs: bounded, and without anything that is not part of an id. */
export const sessionIdParam = z.string().regex(/^[\w-]{1,128}$/, 'not a session id');

/** A session as listings show it: what the record says, minus the policy text unless asked for. */
export type SessionView = Omit<SessionRecord, 'policy' | 'sessionPolicy'> &
  Partial<Pick<SessionRecord, 'policy' | 'sessionPolicy'>>;

/**
 * Security: SessionRecord holds no secret (the secret access key is re-derived from kid + akid, and the
 * session token is never stored), so the view can pass its fields through. The fields are still
 * listed one by one so a secret-bearing field added to the record later does not leak by default.
 * Policies are left out unless asked for: they are large, and a listing is about who holds what.
 */
export function sessionView(record: SessionRecord, includePolicy: boolean): SessionView {
  return {
    sid: record.sid,
    akid: record.akid,
    kid: record.kid,
    principal: record.principal,
    idp: record.idp,
    issuer: record.issuer,
    subject: record.subject,
    username: record.username,
    groups: record.groups,
    role: record.role,
    sessionName: record.sessionName,
    policyHash: record.policyHash,
    issuedAt: record.issuedAt,
    expiresAt: record.expiresAt,
    ...(record.revokedAt === undefined ? {} : { revokedAt: record.revokedAt }),
    ...(includePolicy
      ? {
          policy: record.policy,
          ...(record.sessionPolicy === undefined ? {} : { sessionPolicy: record.sessionPolicy }),
        }
      : {}),
  };
}

/**
 * Revokes, then records who did it: the one way the admin API, a user's own sessions and logout revoke.
 * If the audit write fails the request fails although the revocation stands (AuditLog has logged the event
 * at error level); revoking again is harmless. The audit trail names the principal scope `user`, as the
 * admin API does.
 */
export async function revokeAudited(
  deps: { revocations: Pick<RevocationService, 'revoke'>; audit: Pick<AuditLog, 'record'> },
  request: RevocationRequest,
  by: { actor: AuditActor; req: Request },
): Promise<{ result: RevocationResult; auditId: string }> {
  const result = await deps.revocations.revoke(request);
  const onSession = request.scope === 'session' || request.scope === 'accessKey';
  const auditId = await deps.audit.record({
    type: 'revocation',
    scope: request.scope === 'principal' ? 'user' : request.scope,
    ...(request.value === undefined ? {} : { value: request.value }),
    ...(onSession ? { sessions: 1 } : { issuedBefore: result.at }),
    reason: request.reason,
    actor: by.actor,
    ...auditRequestContext(by.req),
  });
  return { result, auditId };
}

/** One page of an index as the session routes answer it: `{ sessions, cursor? }`. */
export async function sessionPage(
  sessions: Pick<SessionStore, 'list'>,
  index: SessionIndex,
  query: { limit?: number | undefined; cursor?: string | undefined; include?: 'policy' | undefined },
): Promise<{ sessions: ReturnType<typeof sessionView>[]; cursor?: string }> {
  const page = await sessions.list(index, {
    limit: query.limit ?? DEFAULT_PAGE_SIZE,
    ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
  });
  return {
    sessions: page.items.map((record) => sessionView(record, query.include === 'policy')),
    ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
  };
}

/** The request id and client address for an audit event (the address as seen after `trust proxy`). */
export function auditRequestContext(req: Request): { requestId?: string; sourceIp?: string } {
  const requestId = typeof req.id === 'string' || typeof req.id === 'number' ? String(req.id) : '';
  return {
    ...(requestId === '' ? {} : { requestId }),
    ...(req.ip === undefined ? {} : { sourceIp: req.ip }),
  };
}

export interface SessionRouteDeps {
  sessions: Pick<SessionStore, 'get' | 'list'>;
  revocations: Pick<RevocationService, 'revoke'>;
  audit: Pick<AuditLog, 'record'>;
  publicUrl: string;
  /** Sets res.locals.caller from a token or login session. */
  authenticate: RequestHandler;
}

export function sessionRoutes(deps: SessionRouteDeps): Router {
  const router = Router();

  router.get('/v1/sessions', noStore, deps.authenticate, async (req, res) => {
    const { identity } = requireCaller(res);
    const query = parseRequest(ownSessionsQuery, req.query, 'query');
    res.json(await sessionPage(deps.sessions, { by: 'principal', value: principalId(identity) }, query));
  });

  router.delete(
    '/v1/sessions/:id',
    noStore,
    deps.authenticate,
    requireCsrf(deps.publicUrl),
    async (req, res) => {
      const { identity } = requireCaller(res);
      const principal = principalId(identity);
      const sid = sessionIdParam.safeParse(req.params.id);
      const record = sid.success ? await deps.sessions.get(sid.data) : null;
      // Security: someone else's session answers exactly like a missing one, so session ids of other
      // users cannot be probed through this route.
      if (record === null || record.principal !== principal) throw new NotFoundError('No such session');
      const { result } = await revokeAudited(
        deps,
        { scope: 'session', value: record.sid, reason: 'revoked by its owner' },
        { actor: actorOf(identity), req },
      );
      res.json({ scope: 'session', value: record.sid, revokedAt: result.at });
    },
  );

  return router;
}
