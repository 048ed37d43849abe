import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { actorOf, openAuditEntry, type AuditLog } from '../audit/index.js';
import type { AuditActor } from '../audit/events.js';
import { principalId, type Identity } from '../auth/identity.js';
import { namedTokenFrom } from '../auth/secret-compare.js';
import { mappingSchema, roleSchema } from '../config/schema.js';
import type { RevocationScopeName, RevocationService } from '../credentials/revocation.js';
import {
  AccessDeniedError,
  AuthenticationError,
  ConflictError,
  NotFoundError,
  PreconditionRequiredError,
  ValidationError,
} from '../errors.js';
import { explainRoles } from '../policy/explain.js';
import type { PolicySnapshot, RoleCatalog } from '../policy/role-catalog.js';
import type { SessionIndex, Store } from '../store/types.js';
import { callerOf, requireCsrf, type Caller } from './authenticate.js';
import {
  auditRequestContext,
  DEFAULT_PAGE_SIZE,
  pageQuery,
  revokeAudited,
  sessionIdParam,
  sessionPage,
  sessionView,
} from './sessions.js';
import { noStore, parseRequest, requireJson } from './parse-request.js';

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
  /**
   * Roles and mappings as data (`/roles`, `/mappings`, `/explain`); `maxValueLength` is
   * `templates.maxValueLength`, for rendering policies in `/explain`.
   */
  policy: {
    catalog: Pick<RoleCatalog, 'snapshot' | 'update'>;
    maxValueLength: number;
  };
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
  return actorOf(admin.caller.identity);
}

/**
 * Recognises an admin token first; anything else goes to `authenticate`. Admin tokens are not IdP
 * tokens: they must never reach the JWT verifier (which would refuse them), and an IdP token is never
 * compared as an admin token with any effect (its hash matches nothing).
 */
function authenticateAdmin(deps: AdminRouteDeps): RequestHandler {
  return (req, res, next) => {
    const tokenName = namedTokenFrom(req.headers.authorization, deps.admin.tokens);
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
});

const auditQuery = z.strictObject({
  after: z.string().min(1).max(64).optional(),
  limit: pageQuery.limit,
});

const roleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\w+=,.@-]+$/, 'letters, digits and +=,.@_- only');

/** A PUT body is the role without its name (the name is in the path); roleSchema checks the rest, strictly. */
const roleBody = z.record(z.string(), z.unknown()).refine((body) => !('name' in body), {
  message: 'the role name is in the path, not the body',
});

const mappingsBody = z.strictObject({
  mappings: z.array(z.unknown()),
});

const explainRequest = z
  .strictObject({
    identity: z.strictObject({
      idp: z.string().min(1).max(256),
      /** Chooses which `${oidc:...}` / `${saml:...}` variables render; oidc when absent. */
      protocol: z.enum(['oidc', 'saml']).optional(),
      issuer: z.string().min(1).max(1024),
      subject: z.string().min(1).max(1024),
      username: z.string().min(1).max(1024),
      email: z.string().min(1).max(1024).optional(),
      groups: z.array(z.string().max(1024)).max(1000),
      attributes: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    }),
    roles: z.array(roleName).max(100).optional(),
    role: roleName.optional(),
  })
  .refine((body) => body.roles === undefined || body.role === undefined, {
    message: 'give roles or role, not both',
  });

const etagOf = (version: number): string => `"${version}"`;

/**
 * The version a write is conditional on: `If-Match: "<version>"` (the ETag a GET answered). Missing is
 * 428: every edit must say which version it was made against, so two admins never overwrite each other.
 */
function expectedVersionOf(header: string | undefined): number {
  if (header === undefined || header.trim() === '') throw new PreconditionRequiredError();
  const match = /^\s*(?:W\/)?"(\d{1,15})"\s*$/.exec(header);
  if (match?.[1] === undefined)
    throw new ValidationError('If-Match: expected the ETag of the version you read, e.g. "3"');
  return Number(match[1]);
}

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();

  // The guard: before every route, and the only way into this router.
  router.use(noStore, authenticateAdmin(deps), requireAdmin(deps.admin.groups), requireCsrf(deps.publicUrl));

  /**
   * Newest first, never a scan of the key space: by user through an index kept at mint time, by role,
   * group or idp by filtering the newest sessions. A page may be short, even empty, and still have a cursor
   * (see SessionStore.list).
   */
  router.get('/sessions', async (req, res) => {
    const query = parseRequest(listSessionsQuery, req.query, 'query');
    res.json(await sessionPage(deps.store.sessions, sessionIndexOf(query), query));
  });

  router.get('/sessions/:id', async (req, res) => {
    const { include } = parseRequest(z.strictObject({ include: pageQuery.include }), req.query, 'query');
    const sid = sessionIdParam.safeParse(req.params.id);
    const record = sid.success ? await deps.store.sessions.get(sid.data) : null;
    if (record === null) throw new NotFoundError('No such session');
    res.json({ session: sessionView(record, include === 'policy') });
  });

  /** Revokes, then records the audit event (see revokeAudited). */
  router.post('/revocations', async (req, res) => {
    requireJson(req);
    const body = parseRequest(revocationRequest, req.body, 'body');
    const { result, auditId } = await revokeAudited(
      deps,
      {
        scope: serviceScopeOf(body.scope),
        reason: body.reason,
        ...(body.value === undefined ? {} : { value: body.value }),
        ...(body.issuedBefore === undefined ? {} : { issuedBefore: body.issuedBefore }),
      },
      { actor: auditActorOf(adminOf(res)), req },
    );
    const onSession = body.scope === 'session' || body.scope === 'accessKey';
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

  addPolicyRoutes(router, deps, deps.policy);

  return router;
}

/**
 * Roles and mappings as data. Reads answer `ETag: "<version>"`; every write needs `If-Match` with that
 * version (428 without, 412 when someone else changed it first), is audited as `admin.change` with the
 * actor, and answers the new ETag. Registered on the guarded router, so behind the same guard.
 */
function addPolicyRoutes(router: Router, deps: AdminRouteDeps, policy: AdminRouteDeps['policy']): void {
  const { catalog } = policy;
  const answerChange = async (
    req: Request,
    res: Response,
    change: { resource: 'roles' | 'mappings'; action: 'create' | 'update' | 'delete'; name?: string },
    snapshot: PolicySnapshot,
    body: Record<string, unknown>,
  ): Promise<void> => {
    await deps.audit.record({
      type: 'admin.change',
      ...change,
      version: snapshot.version,
      actor: auditActorOf(adminOf(res)),
      ...auditRequestContext(req),
    });
    res.set('ETag', etagOf(snapshot.version)).json({ ...body, version: snapshot.version });
  };

  router.get('/roles', (_req, res) => {
    const { roles, version } = catalog.snapshot();
    res.set('ETag', etagOf(version)).json({ roles, version });
  });

  router.get('/mappings', (_req, res) => {
    const { mappings, version } = catalog.snapshot();
    res.set('ETag', etagOf(version)).json({ mappings, version });
  });

  /** Creates or replaces one role. The roles list keeps its order; a new role goes last. */
  router.put('/roles/:name', async (req, res) => {
    requireJson(req);
    const name = parseRequest(roleName, req.params.name, 'name');
    const expectedVersion = expectedVersionOf(req.get('if-match'));
    const body = parseRequest(roleBody, req.body, 'body');
    const role = parseRequest(roleSchema, { ...body, name }, 'body');
    let action: 'create' | 'update' = 'create';
    const snapshot = await catalog.update((current) => {
      const index = current.roles.findIndex((r) => r.name === name);
      action = index === -1 ? 'create' : 'update';
      const roles =
        index === -1 ? [...current.roles, role] : current.roles.map((r, i) => (i === index ? role : r));
      return { ...current, roles };
    }, expectedVersion);
    await answerChange(req, res, { resource: 'roles', action, name }, snapshot, { role });
  });

  /** Refused (409) while a mapping names the role: remove it from the mappings first. */
  router.delete('/roles/:name', async (req, res) => {
    const name = parseRequest(roleName, req.params.name, 'name');
    const expectedVersion = expectedVersionOf(req.get('if-match'));
    const snapshot = await catalog.update((current) => {
      if (!current.roles.some((r) => r.name === name)) throw new NotFoundError('No such role');
      const using = current.mappings.flatMap((m, i) => (m.roles.includes(name) ? [i] : []));
      if (using.length > 0)
        throw new ConflictError(
          `The role is named by mapping${using.length > 1 ? 's' : ''} ${using.join(', ')}`,
        );
      return { ...current, roles: current.roles.filter((r) => r.name !== name) };
    }, expectedVersion);
    await answerChange(req, res, { resource: 'roles', action: 'delete', name }, snapshot, { deleted: name });
  });

  /** Replaces the whole mapping list: `{ mappings: [...] }`, each mapping as in the configuration file. */
  router.put('/mappings', async (req, res) => {
    requireJson(req);
    const expectedVersion = expectedVersionOf(req.get('if-match'));
    const { mappings: given } = parseRequest(mappingsBody, req.body, 'body');
    const mappings = given.map((mapping, i) => parseRequest(mappingSchema, mapping, `body.mappings.${i}`));
    const snapshot = await catalog.update((current) => ({ ...current, mappings }), expectedVersion);
    await answerChange(req, res, { resource: 'mappings', action: 'update' }, snapshot, {
      mappings: snapshot.mappings,
    });
  });

  /**
   * Which roles an identity (as given, not looked up) may take and why, each with its rendered policy;
   * and for roles asked about by name that it may not take, why not. Read-only: no If-Match, no audit.
   */
  router.post('/explain', (req, res) => {
    requireJson(req);
    const body = parseRequest(explainRequest, req.body, 'body');
    const { protocol, attributes, email, ...rest } = body.identity;
    const identity: Identity = {
      ...rest,
      protocol: protocol ?? 'oidc',
      attributes: attributes ?? {},
      ...(email === undefined ? {} : { email }),
      authTime: Date.now(),
    };
    const asked = body.roles ?? (body.role === undefined ? undefined : [body.role]);
    const { roles, mappings, version } = catalog.snapshot();
    const explanation = explainRoles(identity, roles, mappings, {
      maxValueLength: policy.maxValueLength,
      ...(asked === undefined ? {} : { asked }),
    });
    res.set('ETag', etagOf(version)).json({ ...explanation, version });
  });
}
