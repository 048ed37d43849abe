import { systemClock, type Clock } from '../../clock.js';
import type { Store } from '../types.js';
import { RedisAuditStore } from './audit.js';
import { RedisConfigStore } from './config.js';
import { RedisConnection } from './connection.js';
import { RedisKeys } from './keys.js';
import { RedisLoginSessionStore } from './login-sessions.js';
import { RedisNotBeforeStore } from './not-before.js';
import { RedisOnceStore } from './once.js';
import { RedisPubSub } from './pubsub.js';
import { RedisRateCounterStore } from './rate-counters.js';
import { RedisSessionStore } from './sessions.js';

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key and channel. */
  keyPrefix: string;
  commandTimeoutMs: number;
  /** The audit stream keeps about this many newest entries. */
  auditMaxLength: number;
  /** Measures session lifetimes and rate windows' ends (see RedisSessionStore, RedisRateCounterStore). */
  clock?: Clock;
  /** Connection-level errors, for logs; commands report their own failures. */
  onConnectionError?: (error: Error) => void;
}

/**
 * The production store: state shared by every instance through one Redis (single node today; the keys
 * are laid out for Cluster, see RedisKeys). Two connections at most: commands, and subscriptions.
 * Needs Redis 7.0 or newer (PEXPIRE NX/GT, ZRANGE BYSCORE REV, GETDEL).
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly sessions: RedisSessionStore;
  readonly notBefore: RedisNotBeforeStore;
  readonly once: RedisOnceStore;
  readonly loginSessions: RedisLoginSessionStore;
  readonly rateCounters: RedisRateCounterStore;
  readonly config: RedisConfigStore;
  readonly audit: RedisAuditStore;
  readonly pubsub: RedisPubSub;
  private readonly connection: RedisConnection;

  constructor(options: RedisStoreOptions) {
    const open = (role: string) =>
      new RedisConnection({
        url: options.url,
        commandTimeoutMs: options.commandTimeoutMs,
        name: `fedproxy-${role}`,
        onError: options.onConnectionError,
      });
    this.connection = open('commands');
    const keys = new RedisKeys(options.keyPrefix);
    const clock = options.clock ?? systemClock;
    this.sessions = new RedisSessionStore(this.connection, keys, clock);
    this.notBefore = new RedisNotBeforeStore(this.connection, keys);
    this.once = new RedisOnceStore(this.connection, keys);
    this.loginSessions = new RedisLoginSessionStore(this.connection, keys);
    this.rateCounters = new RedisRateCounterStore(this.connection, keys, clock);
    this.config = new RedisConfigStore(this.connection, keys);
    this.audit = new RedisAuditStore(this.connection, keys, {
      maxLength: options.auditMaxLength,
      giveUpAfterMs: options.commandTimeoutMs,
    });
    this.pubsub = new RedisPubSub(this.connection, keys, () => open('subscriber'));
  }

  async ping(): Promise<void> {
    await this.connection.run((redis) => redis.ping());
  }

  async close(): Promise<void> {
    await Promise.all([this.pubsub.close(), this.connection.close()]);
  }
}
