import type { Identity } from '../auth/identity.js';
import { principalId } from '../auth/identity.js';
import type { IdpConfig } from '../config/schema.js';
import { AccessDeniedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { GrantRequest } from '../policy/grants.js';
import type { Grant } from '../policy/types.js';
import type { RoleResolver } from '../policy/role-resolver.js';
import type { IssuedCredentials } from './credentials.js';
import type { CredentialMinter } from './mint.js';

/**
 * The one path from "this identity asks for this role" to credentials, shared by every entry point
 * (JSON API, container credentials, portal, STS): resolve the grant, bind the lifetime to the IdP token
 * when the IdP is configured so, mint. Denials are logged with the principal and the reason.
 */
export class CredentialIssuer {
  readonly #idps: Map<string, IdpConfig>;

  constructor(
    private readonly resolver: RoleResolver,
    private readonly minter: CredentialMinter,
    idps: readonly IdpConfig[],
    private readonly logger: Logger,
  ) {
    this.#idps = new Map(idps.map((idp) => [idp.id, idp]));
  }

  async issue(identity: Identity, roleName: string, request: GrantRequest): Promise<IssuedCredentials> {
    let grant;
    try {
      grant = this.resolver.grantFor(identity, roleName, request);
    } catch (error) {
      if (error instanceof AccessDeniedError) {
        this.logger.info(
          {
            event: 'credentials.denied',
            principal: principalId(identity),
            idp: identity.idp,
            role: roleName.slice(0, 64),
            reason: error.message,
          },
          'credentials denied',
        );
      }
      throw error;
    }
    return this.mintGrant(identity, grant);
  }

  /** Mints for a grant built elsewhere (GetFederationToken), with the same binding and logging. */
  async mintGrant(identity: Identity, grant: Grant): Promise<IssuedCredentials> {
    const bound = this.#idps.get(identity.idp)?.bindCredentialsToToken === true;
    const credentials = await this.minter.mintCredentials(
      identity,
      grant,
      bound && identity.expiresAt !== undefined ? { notAfter: identity.expiresAt } : {},
    );
    this.logger.info(
      {
        event: credentials.reused ? 'credentials.reused' : 'credentials.minted',
        principal: principalId(identity),
        username: identity.username,
        idp: identity.idp,
        role: grant.role.name,
        sessionId: credentials.sessionId,
        accessKeyId: credentials.accessKeyId,
        expiresAt: credentials.expiration.toISOString(),
      },
      credentials.reused ? 'credentials reused' : 'credentials minted',
    );
    return credentials;
  }
}
