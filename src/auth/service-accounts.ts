import type { ServiceAccountConfig } from '../config/schema.js';
import type { Identity } from './identity.js';

/**
 * Service accounts: long-lived `AKIA…` keys an admin configures, allowed to call STS
 * GetFederationToken on behalf of users of their own (AWS's "proxy application" pattern). Their requests
 * are verified with SigV4 like any AWS request; the secret comes from configuration (${env:…}).
 */
export const FEDERATION_IDP = 'federation';

export class ServiceAccounts {
  readonly #byAccessKey: Map<string, ServiceAccountConfig>;

  constructor(accounts: readonly ServiceAccountConfig[]) {
    this.#byAccessKey = new Map(accounts.map((account) => [account.accessKeyId, account]));
  }

  byAccessKey(accessKeyId: string): ServiceAccountConfig | undefined {
    return this.#byAccessKey.get(accessKeyId);
  }
}

/**
 * The federated user a service account names. Its principal is scoped to the account (the issuer), so two
 * accounts naming the same user never share sessions or revocations.
 */
export function federatedIdentity(account: ServiceAccountConfig, name: string, now: number): Identity {
  return {
    idp: FEDERATION_IDP,
    protocol: 'federation',
    issuer: `fedproxy:service-account:${account.name}`,
    subject: name,
    username: name,
    groups: [],
    attributes: {},
    authTime: now,
  };
}
