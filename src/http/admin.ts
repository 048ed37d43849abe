import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { openAuditEntry, type AuditLog } from '../audit/index.js';
import type { AuditActor, RevocationScope } from '../audit/events.js';
import { principalId } from '../auth/identity.js';
import type { RevocationScopeName, RevocationService } from '../credentials/revocation.js';
import { AccessDeniedError, AppError, AuthenticationError, NotFoundError } from '../errors.js';
import type { SessionIndex, Store } from '../store/types.js';
import { callerOf, requireCsrf, type Caller } from './authenticate.js';
import {
  auditRequestContext,
  DEFAULT_PAGE_SIZE,
  noStore,
  pageQuery,
  parseRequest,
  sessionIdParam,
  sessionView,
} from './sessions.js';

/**
 * The admin API, mounted at `/admin/v1`. Who may call it:
 * - an admin API token (`admin.tokens`, kept as hex SHA-256) as `Authorization: Bearer <token>`;
 * - a caller `authenticate` recognises (browser login session, or an IdP bearer token) whose identity
 *   has one of `admin.groups`. Cookie callers also pass the CSRF defence on state-changing requests.
 *
 * Security: the guard is the router's first middleware (`router.use`), so every route registered on this
 * router, now or later, sits behind it; `test/e2e/admin.test.ts` walks the live route table to prove it.
 */
export interface AdminRouteDeps {
  store: Pick<Store, 'sessions' | 'audit'>;
  revocations: Pick<RevocationService, 'revoke'>;
  audit: Pick<AuditLog, 'record'>;
  admin: {
    /** IdP groups whose members are admins (from any configured IdP). */
    groups: readonly string[];
    tokens: readonly { name: string; sha256: string }[];
  };
  publicUrl: string;
  /** Sets res.locals.caller from a login session or IdP token (the app's shared `authenticate`). */
  authenticate: RequestHandler;
}

/** Who is acting through the admin API. */
export type Admin = { kind: 'token'; tokenName: string } | { kind: 'caller'; caller: Caller };

export function adminOf(res: Response): Admin {
  const admin = res.locals.admin as Admin | undefined;
  // Unreachable behind the guard; fail closed if a handler is ever reached without it.
  if (admin === undefined) throw new AuthenticationError();
  return admin;
}

/** The audit actor for an admin: a token by its name (never the token), a person by principal. */
export function auditActorOf(admin: Admin): AuditActor {
  if (admin.kind === 'token') return { tokenName: admin.tokenName };
  const { identity } = admin.caller;
  return { principal: principalId(identity), username: identity.username, idp: identity.idp };
}

/**
 * The name of the admin token in `Authorization`, or undefined when it holds no admin token. The
 * presented token's SHA-256 is compared in constant time against every configured hash (no early exit),
 * so timing reveals neither which token matched nor how much of a hash did.
 */
export function adminTokenName(
  header: string | undefined,
  tokens: AdminRouteDeps['admin']['tokens'],
): string | undefined {
  const token = /^Bearer\s+(\S{16,512})\s*$/i.exec(header ?? '')?.[1];
  if (token === undefined) return undefined;
  const presented = createHash('sha256').update(token).digest();
  let found: string | undefined;
  for (const { name, sha256 } of tokens) {
    if (timingSafeEqual(presented, Buffer.from(sha256, 'hex'))) found ??= name;
  }
  return found;
}

/**
 * Recognises an admin token first; anything else goes to `authenticate`. Admin tokens are not IdP
 * tokens: they must never reach the JWT verifier (which would refuse them), and an IdP token is never
 * compared as an admin token with any effect (its hash matches nothing).
 */
function authenticateAdmin(deps: AdminRouteDeps): RequestHandler {
  return (req, res, next) => {
    const tokenName = adminTokenName(req.headers.authorization, deps.admin.tokens);
    if (tokenName === undefined) {
      deps.authenticate(req, res, next);
      return;
    }
    res.locals.admin = { kind: 'token', tokenName } satisfies Admin;
    next();
  };
}

/** 401 without credentials, 403 for a caller outside every admin group. */
export function requireAdmin(adminGroups: readonly string[]): RequestHandler {
  const groups = new Set(adminGroups);
  return (_req, res, next) => {
    if (res.locals.admin !== undefined) {
      next();
      return;
    }
    const caller = callerOf(res);
    if (caller === undefined) {
      next(new AuthenticationError('Sign in as an admin, or present an admin API token'));
      return;
    }
    if (!caller.identity.groups.some((group) => groups.has(group))) {
      next(new AccessDeniedError('Admins only'));
      return;
    }
    res.locals.admin = { kind: 'caller', caller } satisfies Admin;
    next();
  };
}

const sessionFilters = ['user', 'role', 'group', 'idp'] as const;

const listSessionsQuery = z
  .strictObject({
    /** A principal id (`principalId`), or give `issuer` and `subject` instead. */
    user: z.string().min(1).max(128).optional(),
    issuer: z.string().min(1).max(1024).optional(),
    subject: z.string().min(1).max(1024).optional(),
    role: z.string().min(1).max(256).optional(),
    group: z.string().min(1).max(1024).optional(),
    idp: z.string().min(1).max(256).optional(),
    ...pageQuery,
  })
  .refine((q) => (q.issuer === undefined) === (q.subject === undefined), {
    message: 'give issuer and subject together',
  })
  .refine(
    (q) =>
      sessionFilters.filter((name) => q[name] !== undefined).length + (q.issuer === undefined ? 0 : 1) <= 1,
    { message: 'filter by at most one of user (or issuer + subject), role, group, idp' },
  );

function sessionIndexOf(query: z.output<typeof listSessionsQuery>): SessionIndex {
  if (query.user !== undefined) return { by: 'principal', value: query.user };
  if (query.issuer !== undefined && query.subject !== undefined)
    return { by: 'principal', value: principalId({ issuer: query.issuer, subject: query.subject }) };
  if (query.role !== undefined) return { by: 'role', value: query.role };
  if (query.group !== undefined) return { by: 'group', value: query.group };
  if (query.idp !== undefined) return { by: 'idp', value: query.idp };
  return { by: 'all' };
}

const apiScopes = ['session', 'accessKey', 'user', 'role', 'group', 'idp', 'all'] as const;

/** `user` is the API's name for the revocation service's `principal` scope. */
function serviceScopeOf(scope: (typeof apiScopes)[number]): RevocationScopeName {
  return scope === 'user' ? 'principal' : scope;
}

const revocationRequest = z.strictObject({
  scope: z.enum(apiScopes),
  /** Session id, access key id, principal id, role, group or IdP id; absent for `all`. */
  value: z.string().min(1).max(1024).optional(),
  /** Revoke what was issued strictly before this instant: ISO 8601 with offset, or ms since the epoch. */
  issuedBefore: z
    .union([z.int().min(0), z.iso.datetime({ offset: true }).transform((text) => new Date(text).getTime())])
    .optional(),
  reason: z.string().min(1).max(1024),
  /** requireCsrf also accepts the CSRF token in the body. */
  csrfToken: z.string().optional(),
});

const auditQuery = z.strictObject({
  after: z.string().min(1).max(64).optional(),
  limit: pageQuery.limit,
});

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();

  // The guard: before every route, and the only way into this router.
  router.use(noStore, authenticateAdmin(deps), requireAdmin(deps.admin.groups), requireCsrf(deps.publicUrl));

  /** Newest first, through the indexes kept at mint time (never a scan). */
  router.get('/sessions', async (req, res) => {
    const query = parseRequest(listSessionsQuery, req.query, 'query');
    const page = await deps.store.sessions.list(sessionIndexOf(query), {
      limit: query.limit ?? DEFAULT_PAGE_SIZE,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
    res.json({
      sessions: page.items.map((record) => sessionView(record, query.include === 'policy')),
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
    });
  });

  router.get('/sessions/:id', async (req, res) => {
    const { include } = parseRequest(z.strictObject({ include: pageQuery.include }), req.query, 'query');
    const sid = sessionIdParam.safeParse(req.params.id);
    const record = sid.success ? await deps.store.sessions.get(sid.data) : null;
    if (record === null) throw new NotFoundError('No such session');
    res.json({ session: sessionView(record, include === 'policy') });
  });

  /**
   * Revokes, then records the audit event. If the audit write fails the request fails (500) although
   * the revocation stands (AuditLog has logged the event at error level); revoking again is harmless.
   */
  router.post('/revocations', async (req, res) => {
    if (!req.is('application/json')) throw new AppError(415, 'UnsupportedMediaType', 'Send application/json');
    const body = parseRequest(revocationRequest, req.body, 'body');
    const result = await deps.revocations.revoke({
      scope: serviceScopeOf(body.scope),
      reason: body.reason,
      ...(body.value === undefined ? {} : { value: body.value }),
      ...(body.issuedBefore === undefined ? {} : { issuedBefore: body.issuedBefore }),
    });
    const onSession = body.scope === 'session' || body.scope === 'accessKey';
    const auditId = await deps.audit.record({
      type: 'revocation',
      scope: body.scope satisfies RevocationScope,
      ...(body.value === undefined ? {} : { value: body.value }),
      ...(onSession ? { sessions: 1 } : { issuedBefore: result.at }),
      reason: body.reason,
      actor: auditActorOf(adminOf(res)),
      ...auditRequestContext(req),
    });
    res.status(201).json({
      scope: body.scope,
      ...(body.value === undefined ? {} : { value: body.value }),
      // A session or access key: when it was revoked. A mark: what was issued before this is revoked.
      ...(onSession ? { revokedAt: result.at } : { issuedBefore: result.at }),
      ...(result.markKeptUntil === undefined ? {} : { markKeptUntil: result.markKeptUntil }),
      auditId,
    });
  });

  /**
   * Oldest first after `after`. `cursor` (the last id answered) is present while more entries exist
   * now; to follow the stream, pass the last entry's id as `after`. An entry that no longer parses is
   * answered with `event: null` (run the chain check to see why).
   */
  router.get('/audit', async (req, res) => {
    const query = parseRequest(auditQuery, req.query, 'query');
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const entries = await deps.store.audit.read({
      limit: limit + 1,
      ...(query.after === undefined ? {} : { after: query.after }),
    });
    const page = entries.slice(0, limit);
    const last = page.at(-1);
    res.json({
      entries: page.map((entry) => ({
        id: entry.id,
        hash: entry.hash,
        event: openAuditEntry(entry.entry)?.event ?? null,
      })),
      ...(entries.length > limit && last !== undefined ? { cursor: last.id } : {}),
    });
  });

  return router;
}
