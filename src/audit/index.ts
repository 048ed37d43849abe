export { actorOf } from './actor.js';
export { AuditLog, type AuditLogOptions } from './audit-log.js';
export {
  AuditChainVerifier,
  auditHash,
  canonicalJson,
  openAuditEntry,
  sealAuditEvent,
  verifyAuditChain,
  type AuditChainProblem,
  type AuditChainVerification,
  type VerifyAuditChainOptions,
} from './chain.js';
export type * from './events.js';
