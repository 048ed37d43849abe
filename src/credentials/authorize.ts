import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { evaluateSession, type Decision, type RequestContext } from '../policy/evaluate.js';
import type { SessionRecord } from '../store/types.js';
import { sessionPrincipal } from './mint.js';
import type { SignedRequestParts, SigV4Verifier } from './sigv4.js';
import type { SessionVerifier } from './verify.js';

/**
 * "May the caller of this request do `action` on `resource`?" for resource services: authenticate the
 * request (a SigV4 signature made with vended credentials, or a bare session token), then evaluate the
 * session's policies. Serves `POST /v1/authorize` and the verifier middleware's local mode alike.
 *
 * Authentication failures are answers, not exceptions: `allowed: false` with AWS's code, so a resource
 * service can pass them on. Only an unavailable store (503) or a bug rejects: nothing is allowed because
 * a check could not be made.
 */
export interface AuthorizeInput {
  /** The signed request as the resource service received it; or `sessionToken` instead. */
  request?: SignedRequestParts;
  sessionToken?: string;
  /** The SigV4 signing name the resource service answers to (e.g. `reports`); checked when given. */
  service?: string;
  action: string;
  resource: string;
  context?: RequestContext;
}

export interface AuthorizedPrincipal {
  arn: string;
  userId: string;
  account: string;
  sessionId: string;
  username: string;
  role: string;
  idp: string;
}

export interface AuthorizeResult {
  allowed: boolean;
  /** The policy decision; absent when the caller could not be authenticated. */
  decision?: Decision['decision'];
  principal?: AuthorizedPrincipal;
  /** Which statement decided, or why authentication failed. */
  reason: string;
  /** AWS's error code when authentication failed (SignatureDoesNotMatch, InvalidClientTokenId, ...). */
  code?: string;
}

/** Keys fedproxy sets from the session; a resource service's context cannot override them. */
function sessionContext(record: SessionRecord, principal: AuthorizedPrincipal, now: number): RequestContext {
  return {
    'aws:CurrentTime': new Date(now).toISOString(),
    'aws:EpochTime': Math.floor(now / 1000),
    'aws:PrincipalArn': principal.arn,
    'aws:PrincipalAccount': principal.account,
    'aws:userid': principal.userId,
    'aws:username': record.username,
    'aws:TokenIssueTime': new Date(record.issuedAt).toISOString(),
    'fed:idp': record.idp,
    'fed:username': record.username,
    'fed:sub': record.subject,
    'fed:role': record.role,
    'fed:groups': record.groups.length > 0 ? record.groups : undefined,
  };
}

export class RequestAuthorizer {
  constructor(
    private readonly sessions: SessionVerifier,
    private readonly sigv4: SigV4Verifier,
    private readonly clock: Clock,
    private readonly accountId: string,
  ) {}

  async authorize(input: AuthorizeInput): Promise<AuthorizeResult> {
    let record: SessionRecord;
    try {
      if (input.request !== undefined) {
        const verified = await this.sigv4.verify(
          input.request,
          input.service === undefined ? {} : { service: input.service },
        );
        record = verified.session.record;
      } else if (input.sessionToken !== undefined) {
        record = (await this.sessions.verifySessionToken(input.sessionToken)).record;
      } else {
        return {
          allowed: false,
          code: 'MissingAuthenticationToken',
          reason: 'no signed request or session token',
        };
      }
    } catch (error) {
      if (error instanceof AppError && error.expose) {
        return { allowed: false, code: error.code, reason: error.message };
      }
      throw error;
    }
    const aws = sessionPrincipal(this.accountId, record);
    const principal: AuthorizedPrincipal = {
      arn: aws.arn,
      userId: aws.userId,
      account: this.accountId,
      sessionId: record.sid,
      username: record.username,
      role: record.role,
      idp: record.idp,
    };
    const context = mergeContext(input.context, sessionContext(record, principal, this.clock.now()));
    const decision = evaluateSession(record, { action: input.action, resource: input.resource, context });
    return { allowed: decision.allowed, decision: decision.decision, principal, reason: decision.reason };
  }
}

/**
 * Condition keys a resource service may supply: those that describe the request (where it came from,
 * how, what it tags), never the principal. Everything about who is calling comes from the session.
 */
const CALLER_AWS_KEYS = [
  'aws:sourceip',
  'aws:securetransport',
  'aws:referer',
  'aws:useragent',
  'aws:requestedregion',
  'aws:sourcevpc',
  'aws:sourcevpce',
  'aws:vpcsourceip',
  'aws:tagkeys',
];
const CALLER_AWS_PREFIXES = ['aws:requesttag/', 'aws:resourcetag/'];

function callerMaySet(key: string): boolean {
  const lower = key.toLowerCase();
  if (lower.startsWith('fed:')) return false;
  if (!lower.startsWith('aws:')) return true;
  return CALLER_AWS_KEYS.includes(lower) || CALLER_AWS_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * The caller's context plus fedproxy's keys. A resource service may add keys of its own service and
 * the request-describing `aws:` keys above; anything else in `aws:` or `fed:` (principal tags, MFA,
 * the principal's ARN, ...) is dropped, so it cannot claim anything about who the principal is.
 */
function mergeContext(caller: RequestContext | undefined, own: RequestContext): RequestContext {
  const merged: RequestContext = {};
  for (const [key, value] of Object.entries(caller ?? {})) {
    if (callerMaySet(key)) merged[key] = value;
  }
  return { ...merged, ...own };
}
