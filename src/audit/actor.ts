import { principalId, type Identity } from '../auth/identity.js';
import type { AuditActor } from './events.js';

/** Who acted, for the audit trail: a signed-in identity by its principal id, username and IdP. */
export function actorOf(identity: Identity): AuditActor {
  return { principal: principalId(identity), username: identity.username, idp: identity.idp };
}
