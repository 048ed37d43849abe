import { actorOf, type AuditLog } from '../audit/index.js';
import type { Identity } from '../auth/identity.js';
import type { IdpConfig } from '../config/schema.js';
import { AccessDeniedError } from '../errors.js';
import type { GrantRequest } from '../policy/grants.js';
import type { Grant } from '../policy/types.js';
import type { RoleResolver } from '../policy/role-resolver.js';
import type { IssuedCredentials } from './credentials.js';
import type { CredentialMinter } from './mint.js';

export const CREDENTIAL_OUTCOMES = ['minted', 'reused', 'denied'] as const;
export type CredentialOutcome = (typeof CREDENTIAL_OUTCOMES)[number];

/** Told the outcome of each credential request; `Metrics` implements it. Must not throw. */
export interface CredentialObserver {
  /**
   * `minted`/`reused`: credentials were handed out (after their audit record was stored). `denied`: the
   * identity may not have them (AccessDeniedError). `role` is the requested role name as given, which
   * for a denial may be any string: the observer bounds it before using it as a label.
   */
  credential(outcome: CredentialOutcome, role: string): void;
}

/**
 * The one path from "this identity asks for this role" to credentials, shared by every entry point
 * (JSON API, container credentials, portal, STS): resolve the grant, bind the lifetime to the IdP token
 * when the IdP is configured so, mint, and audit.
 *
 * Auditing fails closed for what it hands out: credentials whose mint or reuse could not be recorded are
 * not returned (the request fails, 503 when the store is down). A denial whose record fails is still a
 * denial (the audit log has already logged the failure at error level).
 */
export class CredentialIssuer {
  readonly #idps: Map<string, IdpConfig>;

  constructor(
    private readonly resolver: RoleResolver,
    private readonly minter: CredentialMinter,
    idps: readonly IdpConfig[],
    private readonly audit: AuditLog,
    private readonly observer?: CredentialObserver,
  ) {
    this.#idps = new Map(idps.map((idp) => [idp.id, idp]));
  }

  async issue(identity: Identity, roleName: string, request: GrantRequest): Promise<IssuedCredentials> {
    let grant;
    try {
      grant = this.resolver.grantFor(identity, roleName, request);
    } catch (error) {
      if (error instanceof AccessDeniedError) await this.denied(identity, roleName, error);
      throw error;
    }
    return this.mintGrant(identity, grant);
  }

  /** Audits and counts a denial; a failed audit write is already logged and the denial stands. */
  private async denied(identity: Identity, roleName: string, error: AccessDeniedError): Promise<void> {
    await this.audit
      .record({
        type: 'credentials.denied',
        actor: actorOf(identity),
        role: roleName.slice(0, 64),
        code: error.code,
        reason: error.message,
      })
      .catch(() => undefined);
    this.observer?.credential('denied', roleName);
  }

  /** Mints for a grant built elsewhere (GetFederationToken), with the same binding and auditing. */
  async mintGrant(identity: Identity, grant: Grant): Promise<IssuedCredentials> {
    const bound = this.#idps.get(identity.idp)?.bindCredentialsToToken === true;
    let credentials;
    try {
      credentials = await this.minter.mintCredentials(
        identity,
        grant,
        bound && identity.expiresAt !== undefined ? { notAfter: identity.expiresAt } : {},
      );
    } catch (error) {
      // The minter denies when a bound IdP session ends too soon to be worth minting for.
      if (error instanceof AccessDeniedError) await this.denied(identity, grant.role.name, error);
      throw error;
    }
    const common = {
      actor: actorOf(identity),
      sessionId: credentials.sessionId,
      accessKeyId: credentials.accessKeyId,
      role: grant.role.name,
      expiresAt: credentials.expiration.getTime(),
    };
    await this.audit.record(
      credentials.reused
        ? { type: 'credentials.reused', ...common }
        : {
            type: 'credentials.minted',
            ...common,
            durationSeconds: grant.durationSeconds,
            sessionName: grant.sessionName,
            sessionPolicy: grant.sessionPolicy !== undefined,
          },
    );
    this.observer?.credential(credentials.reused ? 'reused' : 'minted', grant.role.name);
    return credentials;
  }
}
