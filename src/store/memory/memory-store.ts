import { systemClock, type Clock } from '../../clock.js';
import type { Store } from '../types.js';
import { MemoryAuditStore } from './audit.js';
import { MemoryConfigStore } from './config.js';
import { MemoryContext } from './context.js';
import { MemoryLoginSessionStore } from './login-sessions.js';
import { MemoryNotBeforeStore } from './not-before.js';
import { MemoryOnceStore } from './once.js';
import { MemoryPubSub } from './pubsub.js';
import { MemoryRateCounterStore } from './rate-counters.js';
import { MemorySessionStore } from './sessions.js';

export interface MemoryStoreOptions {
  /** Decides every expiry; pass a ManualClock to test TTLs without sleeping. */
  clock?: Clock;
  /** The audit log keeps about this many newest entries. */
  auditMaxLength: number;
}

/**
 * The whole store in one process's memory, for the zero-setup dev mode only: nothing survives a restart
 * and no other instance sees it. It keeps the same semantics as the Redis store (both pass the same
 * conformance suite); a closed memory store fails like an unreachable Redis.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly sessions: MemorySessionStore;
  readonly notBefore: MemoryNotBeforeStore;
  readonly once: MemoryOnceStore;
  readonly loginSessions: MemoryLoginSessionStore;
  readonly rateCounters: MemoryRateCounterStore;
  readonly config: MemoryConfigStore;
  readonly audit: MemoryAuditStore;
  readonly pubsub: MemoryPubSub;
  private readonly context: MemoryContext;

  constructor(options: MemoryStoreOptions) {
    this.context = new MemoryContext(options.clock ?? systemClock);
    this.sessions = new MemorySessionStore(this.context);
    this.notBefore = new MemoryNotBeforeStore(this.context);
    this.once = new MemoryOnceStore(this.context);
    this.loginSessions = new MemoryLoginSessionStore(this.context);
    this.rateCounters = new MemoryRateCounterStore(this.context);
    this.config = new MemoryConfigStore(this.context);
    this.audit = new MemoryAuditStore(this.context, options.auditMaxLength);
    this.pubsub = new MemoryPubSub(this.context);
  }

  async ping(): Promise<void> {
    this.context.assertOpen();
  }

  async close(): Promise<void> {
    this.context.close();
    this.pubsub.close();
  }
}
