import { systemClock, type Clock } from '../clock.js';
import { redactSecrets, type Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { sealAuditEvent } from './chain.js';
import type { AuditEvent, AuditEventInput } from './events.js';

export interface AuditLogOptions {
  /** The store whose audit stream holds the chain (shared by every instance). */
  store: Pick<Store, 'audit'>;
  logger: Logger;
  /** Fills `at` when an event comes without one (default: the system clock). */
  clock?: Clock;
}

/**
 * Records audit events: appends each to the store's hash-chained stream and writes it to the log.
 *
 * Contract:
 * - `record` resolves with the entry's id once the entry is stored (the store commits before resolving),
 *   and rejects when it could not be stored. A failed audit write is never dropped silently: it is logged
 *   at error level, with the event, and the caller decides what to do (an action that must be audited,
 *   such as minting, should fail closed; see CredentialIssuer).
 * - Every event goes through `redactSecrets` before it is sealed, so the stored entry and the log line
 *   hold the same, redacted, values.
 * - The log line carries the entry's id and hash. Logs are shipped off the host, so they are an external
 *   copy of the chain's head: a rewrite of the Redis stream that re-hashes everything after an edit, or
 *   a truncation of its newest entries, disagrees with them.
 */
export class AuditLog {
  private readonly store: Pick<Store, 'audit'>;
  private readonly logger: Logger;
  private readonly clock: Clock;

  constructor(options: AuditLogOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
  }

  async record(input: AuditEventInput): Promise<string> {
    const event = redactSecrets({ ...input, at: input.at ?? this.clock.now() }) as AuditEvent;
    const seal = sealAuditEvent(event);
    let hash = '';
    try {
      const id = await this.store.audit.append((prev) => {
        const sealed = seal(prev);
        hash = sealed.hash;
        return sealed;
      });
      this.logger.info({ audit: event, auditId: id, auditHash: hash }, `audit: ${event.type}`);
      return id;
    } catch (error) {
      this.logger.error({ err: error, audit: event }, `audit: could not record ${event.type}`);
      throw error;
    }
  }
}
