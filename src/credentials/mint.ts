import { createHash, type KeyObject } from 'node:crypto';
import { BoundedMap } from '../bounded-map.js';
import { principalId, type Identity } from '../auth/identity.js';
import { FEDERATION_IDP } from '../auth/service-accounts.js';
import type { Clock } from '../clock.js';
import { AccessDeniedError, ValidationError } from '../errors.js';
import type { Grant } from '../policy/types.js';
import type { SessionRecord, Store } from '../store/types.js';
import { accessKeyIdFor, deriveSecretAccessKey, newSessionId, roleIdFor } from './access-keys.js';
import type { IssuedCredentials } from './credentials.js';
import type { KeyRing } from './keys.js';
import { scopesCovering, type LivenessChecker, type MarksRead } from './liveness.js';
import { signSessionToken } from './session-token.js';

export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43_200;
/** Credentials bound to an IdP token that has less than this left are refused rather than issued. */
const MIN_BOUND_LIFETIME_MS = 60_000;
const REUSE_NAMESPACE = 'reuse';
/** Session tokens of recently handed-out sessions kept for reuse (signing one again gives the same text). */
const SIGNED_TOKENS_MAX = 10_000;

export interface MintSettings {
  accountId: string;
  /** The `iss` of session tokens. */
  issuer: string;
  /** 0 disables reuse. */
  reuseWindowSeconds: number;
}

export interface MintOptions {
  /** Never let the credentials outlive this instant (ms), e.g. the IdP token's expiry. */
  notAfter?: number;
}

export function roleArn(accountId: string, role: string): string {
  return `arn:aws:iam::${accountId}:role/${role}`;
}

/**
 * Who a session acts as, in AWS's terms (what GetCallerIdentity answers): an assumed role
 * (`arn:aws:sts::<account>:assumed-role/<role>/<session>`, user id `AROA…:<session>`), or for
 * GetFederationToken sessions a federated user (`arn:aws:sts::<account>:federated-user/<name>`, user id
 * `<account>:<name>`).
 */
export function sessionPrincipal(
  accountId: string,
  record: Pick<SessionRecord, 'idp' | 'role' | 'sessionName'>,
): { arn: string; userId: string; roleArn: string } {
  if (record.idp === FEDERATION_IDP) {
    return {
      arn: `arn:aws:sts::${accountId}:federated-user/${record.sessionName}`,
      userId: `${accountId}:${record.sessionName}`,
      roleArn: `arn:aws:iam::${accountId}:user/${record.role.replace(/^federation:/, '')}`,
    };
  }
  return {
    arn: `arn:aws:sts::${accountId}:assumed-role/${record.role}/${record.sessionName}`,
    userId: `${roleIdFor(accountId, record.role)}:${record.sessionName}`,
    roleArn: roleArn(accountId, record.role),
  };
}

/** Hash of the effective permissions; carried in the token as `ph` and part of the reuse key. */
export function policyHash(policy: string, sessionPolicy: string | undefined): string {
  return createHash('sha256')
    .update(policy)
    .update('\n')
    .update(sessionPolicy ?? '')
    .digest('base64url')
    .slice(0, 22);
}

/**
 * Mints session credentials for an identity and a grant, and rebuilds the credentials of a stored session.
 *
 * Reuse: the same principal + role + effective policy + session name + duration (+ binding) within
 * `reuseWindowSeconds` gets the same live session back, so SDK refresh storms do not create a session per
 * call. The pointer to the reusable session is claimed with set-if-absent *before* the session is written,
 * so concurrent callers converge on one session; a pointer to a session that is no longer live is dropped.
 * A revoked session is never reused: reuse checks the session's record and the not-before marks of its
 * scopes as read from the store at that moment (never a cached answer).
 */
export class CredentialMinter {
  /** sid → its session token: every field it signs is fixed for the session's life (see credentialsFor). */
  readonly #signedTokens = new BoundedMap<string>(SIGNED_TOKENS_MAX);

  constructor(
    private readonly store: Store,
    private readonly keys: KeyRing,
    private readonly liveness: LivenessChecker,
    private readonly clock: Clock,
    private readonly settings: MintSettings,
  ) {}

  async mintCredentials(
    identity: Identity,
    grant: Grant,
    options: MintOptions = {},
  ): Promise<IssuedCredentials> {
    const { durationSeconds } = grant;
    if (
      !Number.isInteger(durationSeconds) ||
      durationSeconds < MIN_DURATION_SECONDS ||
      durationSeconds > Math.min(grant.role.maxSessionDuration, MAX_DURATION_SECONDS)
    ) {
      throw new ValidationError(
        `DurationSeconds must be an integer from ${MIN_DURATION_SECONDS} to ${grant.role.maxSessionDuration}`,
      );
    }
    const now = this.clock.now();
    let expiresAt = now + durationSeconds * 1000;
    if (options.notAfter !== undefined && options.notAfter < expiresAt) {
      if (options.notAfter - now < MIN_BOUND_LIFETIME_MS) {
        throw new AccessDeniedError('Your identity provider session expires too soon; sign in again');
      }
      expiresAt = options.notAfter;
    }

    const policy = JSON.stringify(grant.policy);
    const sessionPolicy = grant.sessionPolicy === undefined ? undefined : JSON.stringify(grant.sessionPolicy);
    const template: Omit<SessionRecord, 'sid' | 'akid' | 'kid' | 'issuedAt' | 'expiresAt'> = {
      principal: principalId(identity),
      idp: identity.idp,
      issuer: identity.issuer,
      subject: identity.subject,
      username: identity.username,
      groups: [...identity.groups],
      role: grant.role.name,
      sessionName: grant.sessionName,
      policy,
      ...(sessionPolicy === undefined ? {} : { sessionPolicy }),
      policyHash: policyHash(policy, sessionPolicy),
    };
    const newRecord = (sid = newSessionId()): SessionRecord => ({
      ...template,
      sid,
      akid: accessKeyIdFor(sid),
      kid: this.keys.current.kid,
      issuedAt: now,
      expiresAt,
    });

    const windowMs = Math.min(this.settings.reuseWindowSeconds * 1000, expiresAt - now);
    if (windowMs <= 0) {
      const record = newRecord();
      await this.store.sessions.create(record);
      return this.credentialsFor(record, false);
    }

    const reuseKey = createHash('sha256')
      .update(
        [
          'v1',
          template.principal,
          template.role,
          template.policyHash,
          template.sessionName,
          durationSeconds,
          options.notAfter ?? '',
        ].join('\n'),
      )
      .digest('base64url');
    // One step claims the pointer for a new session or answers the session it already names.
    const sid = newSessionId();
    let claimedSid = await this.store.once.claim(REUSE_NAMESPACE, reuseKey, sid, windowMs);
    // The not-before marks a reusable session is checked against are read with it, in the same round
    // trip: the scopes come from the identity, which a session with this reuse key shares (any scope of
    // the record outside them is still asked before deciding).
    const scopes = scopesCovering(template);
    for (let attempt = 0; attempt < 3 && claimedSid !== null; attempt++) {
      const [existing, marks] = await Promise.all([
        this.store.sessions.get(claimedSid),
        this.store.notBefore.get(scopes),
      ]);
      if (existing === null && attempt < 2) {
        // Claimed by a concurrent mint that has not written its session yet.
        await new Promise((resolve) => setTimeout(resolve, 20));
      } else if (
        existing !== null &&
        (await this.reusable(existing, now, durationSeconds * 1000 - windowMs, { scopes, marks }))
      ) {
        return this.credentialsFor(existing, true);
      } else {
        // Not reusable, or never written: drop the pointer, and claim it again for this session.
        await this.store.once.delete(REUSE_NAMESPACE, reuseKey);
      }
      claimedSid = await this.store.once.claim(REUSE_NAMESPACE, reuseKey, sid, windowMs);
    }
    // The pointer names this session now; or, contended beyond reason, a session of our own rather than fail.
    const record = newRecord(sid);
    await this.store.sessions.create(record);
    return this.credentialsFor(record, false);
  }

  private async reusable(
    record: SessionRecord,
    now: number,
    minRemainingMs: number,
    read: MarksRead,
  ): Promise<boolean> {
    if (this.keys.find(record.kid) === undefined) return false;
    if (record.expiresAt - now < minRemainingMs) return false;
    // Marks read from the store just now, never the liveness cache: a session revoked on another
    // instance a moment ago must not be handed out again.
    return (await this.liveness.checkAgainst(record, read)).live;
  }

  /**
   * The credentials of a stored session: the secret is re-derived and the token signed again (Ed25519 is
   * deterministic, so it is the same text), or taken from the tokens recently signed here.
   */
  async credentialsFor(record: SessionRecord, reused: boolean): Promise<IssuedCredentials> {
    const keySet = this.keys.find(record.kid);
    if (keySet === undefined) throw new Error(`key set ${record.kid} is no longer in the key ring`);
    const sessionToken = this.#signedTokens.get(record.sid) ?? (await this.signToken(record, keySet));
    const { accountId } = this.settings;
    const principal = sessionPrincipal(accountId, record);
    return {
      accessKeyId: record.akid,
      secretAccessKey: deriveSecretAccessKey(keySet.derivationKey, record.akid),
      sessionToken,
      expiration: new Date(record.expiresAt),
      sessionId: record.sid,
      roleArn: principal.roleArn,
      assumedRoleUser: { arn: principal.arn, assumedRoleId: principal.userId },
      reused,
    };
  }

  private async signToken(
    record: SessionRecord,
    keySet: { kid: string; signingKey: KeyObject },
  ): Promise<string> {
    const token = await signSessionToken(
      {
        v: 1,
        sid: record.sid,
        akid: record.akid,
        iss: this.settings.issuer,
        sub: record.principal,
        role: record.role,
        iat: Math.floor(record.issuedAt / 1000),
        exp: Math.floor(record.expiresAt / 1000),
        ph: record.policyHash,
      },
      keySet.kid,
      keySet.signingKey,
    );
    this.#signedTokens.set(record.sid, token);
    return token;
  }
}
