/**
 * What the audit trail records. One event per security-relevant decision: every mint, reuse and denial
 * of credentials, every sign-in success and failure, every revocation and every admin change.
 *
 * Contract for whoever builds an event:
 * - Never put a secret in it: no secret access key, session token, IdP token, SAML response, password,
 *   cookie, login-session id or admin API token. Identify things by ids that grant nothing on their own
 *   (session id, access key id, token *name*, request id). AuditLog runs every event through
 *   `redactSecrets` as a last net, but that net only knows secret-looking field names and JWT-shaped
 *   strings: it is not a licence to pass raw values.
 * - Avoid field names the redaction treats as secret (`token`, `credentials`, `secret`, ...): their
 *   values would be replaced by `[redacted]`. Hence `actor.tokenName`, not `actor.token`.
 * - Values must be plain JSON (strings, finite numbers, booleans, arrays, plain objects): the entry is
 *   serialised canonically and hashed, so what is stored is exactly what was hashed.
 */

/** Who acted. All optional: a failed sign-in may know nothing but the IdP. */
export interface AuditActor {
  /** Issuer-scoped principal id (`principalId` of the identity). */
  principal?: string;
  username?: string;
  idp?: string;
  /** The name of an admin API token or verifier token (never the token itself). */
  tokenName?: string;
}

/** Fields every event carries. */
export interface AuditEventBase {
  /** When it happened, ms since the epoch. AuditLog fills it from its clock when absent. */
  at: number;
  /** The HTTP request id, to find the matching request log lines. */
  requestId?: string;
  actor?: AuditActor;
  /** The client address as the server saw it (after trustProxy). */
  sourceIp?: string;
}

export interface CredentialsMintedEvent extends AuditEventBase {
  type: 'credentials.minted';
  sessionId: string;
  accessKeyId: string;
  role: string;
  expiresAt: number;
  durationSeconds?: number;
  sessionName?: string;
  /** True when a session policy narrowed the role's policy. */
  sessionPolicy?: boolean;
}

/** The reuse window answered with credentials of an existing session instead of minting. */
export interface CredentialsReusedEvent extends AuditEventBase {
  type: 'credentials.reused';
  sessionId: string;
  accessKeyId: string;
  role: string;
  expiresAt: number;
}

export interface CredentialsDeniedEvent extends AuditEventBase {
  type: 'credentials.denied';
  /** The role asked for, when the request got that far. */
  role?: string;
  /** The error code answered (AccessDenied, ValidationError, ...). */
  code: string;
  /** Why, for operators: the server-side reason, which may say more than the client message. */
  reason: string;
}

export type SignInMethod = 'oidc' | 'saml';

export interface SignInSucceededEvent extends AuditEventBase {
  type: 'signin.succeeded';
  method: SignInMethod;
  /** Number of groups the IdP asserted (the groups themselves are in the session records). */
  groups?: number;
}

export interface SignInFailedEvent extends AuditEventBase {
  type: 'signin.failed';
  method: SignInMethod;
  /** A stable code (e.g. a SAML refusal check or an OIDC error code). */
  code: string;
  reason: string;
}

export type RevocationScope = 'session' | 'accessKey' | 'user' | 'role' | 'group' | 'idp' | 'all';

export interface RevocationEvent extends AuditEventBase {
  type: 'revocation';
  scope: RevocationScope;
  /** What was revoked within the scope (a session id, access key id, principal, role, ...); absent for `all`. */
  value?: string;
  /** Credentials issued before this time (ms) are revoked. */
  issuedBefore?: number;
  reason?: string;
  /** How many sessions were revoked one by one, when the scope names sessions. */
  sessions?: number;
}

export interface AdminChangeEvent extends AuditEventBase {
  type: 'admin.change';
  /** What was changed: `roles`, `mappings`, ... */
  resource: string;
  action: 'create' | 'update' | 'delete';
  /** The item within the resource (a role name, a mapping id). */
  name?: string;
  /** The version (ETag) after the change. */
  version?: number;
}

export type AuditEvent =
  | CredentialsMintedEvent
  | CredentialsReusedEvent
  | CredentialsDeniedEvent
  | SignInSucceededEvent
  | SignInFailedEvent
  | RevocationEvent
  | AdminChangeEvent;

export type AuditEventType = AuditEvent['type'];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What callers pass to `AuditLog.record`: an event whose `at` may be left to the log's clock. */
export type AuditEventInput = DistributiveOmit<AuditEvent, 'at'> & { at?: number };
