import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { MemoryStore } from './memory/memory-store.js';
import { RedisStore } from './redis/redis-store.js';
import type { Store } from './types.js';

export interface CreateStoreOptions {
  /** Decides expiry (default: the system clock). */
  clock?: Clock;
  /** Redis connection errors (refused, reset, ...), for logs; every command reports its own failure. */
  onConnectionError?: (error: Error) => void;
}

/**
 * The store the configuration asks for. Connecting is lazy in effect: this returns at once, and a Redis
 * that cannot be reached shows as StoreUnavailableError on the first commands (and on `ping`), not here.
 * Refusing the memory store outside dev mode is the configuration's job.
 */
export function createStore(config: Config['store'], options: CreateStoreOptions = {}): Store {
  if (config.type === 'memory') {
    return new MemoryStore({ auditMaxLength: config.auditMaxLength, clock: options.clock });
  }
  return new RedisStore({
    url: config.redis.url,
    keyPrefix: config.redis.keyPrefix,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    auditMaxLength: config.auditMaxLength,
    clock: options.clock,
    onConnectionError: options.onConnectionError,
  });
}
