import { systemClock, type Clock } from '../../clock.js';
import type { Store } from '../types.js';
import { RedisAuditStore } from './audit.js';
import { RedisConfigStore } from './config.js';
import { RedisConnection } from './connection.js';
import { RedisKeys } from './keys.js';
import { RedisNotBeforeStore } from './not-before.js';
import { RedisOnceStore } from './once.js';
import { RedisPubSub } from './pubsub.js';
import { RedisSessionStore } from './sessions.js';

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key and channel. */
  keyPrefix: string;
  commandTimeoutMs: number;
  /** The audit stream keeps about this many newest entries. */
  auditMaxLength: number;
  /** Measures session lifetimes (see RedisSessionStore). */
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
    this.sessions = new RedisSessionStore(this.connection, keys, options.clock ?? systemClock);
    this.notBefore = new RedisNotBeforeStore(this.connection, keys);
    this.once = new RedisOnceStore(this.connection, keys);
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
