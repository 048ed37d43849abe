import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

/** Both store implementations, so behaviour tests run against each; Redis under unique key prefixes. */
export interface TestStoreKind {
  kind: 'memory' | 'redis';
  make(clock: Clock): Store;
  /**
   * Another Store object on the last store's key prefix (Redis only): a second fedproxy instance sharing
   * the first one's Redis. In-process instances on the memory store share one store object instead.
   */
  twin?(clock: Clock): Store;
  /** Every key and value the last store made wrote (Redis only), for "what is at rest" checks. */
  dump?(): Promise<string[]>;
  /** Deletes the last store's keys matching a pattern (Redis only), to simulate data loss. */
  deleteKeysMatching?(pattern: string): Promise<number>;
  cleanup(): Promise<void>;
}

export function memoryStoreKind(): TestStoreKind {
  return {
    kind: 'memory',
    make: (clock) =>
      createStore(
        {
          type: 'memory',
          redis: { url: '', keyPrefix: 'fp:', commandTimeoutMs: 2000 },
          auditMaxLength: 1000,
        },
        { clock },
      ),
    cleanup: async () => {},
  };
}

export function redisStoreKind(): TestStoreKind {
  const url = inject('redisUrl');
  // A prefix per store made, so not-before marks and reuse pointers never leak from one test into the next.
  const runPrefix = `fp-test-${randomBytes(6).toString('hex')}-`;
  let keyPrefix = `${runPrefix}0:`;
  let made = 0;
  const raw = new Redis(url, { lazyConnect: true });
  raw.on('error', () => {});
  const keys = async (match: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await raw.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  return {
    kind: 'redis',
    make(clock) {
      keyPrefix = `${runPrefix}${++made}:`;
      return createStore(
        { type: 'redis', redis: { url, keyPrefix, commandTimeoutMs: 2000 }, auditMaxLength: 1000 },
        { clock },
      );
    },
    twin(clock) {
      return createStore(
        { type: 'redis', redis: { url, keyPrefix, commandTimeoutMs: 2000 }, auditMaxLength: 1000 },
        { clock },
      );
    },
    async dump() {
      const out: string[] = [];
      for (const key of await keys(`${keyPrefix}*`)) {
        out.push(key);
        const type = await raw.type(key);
        if (type === 'string') out.push((await raw.get(key)) ?? '');
        else if (type === 'hash') out.push(...Object.entries(await raw.hgetall(key)).flat());
        else if (type === 'zset') out.push(...(await raw.zrange(key, '0', '-1')));
        else if (type === 'set') out.push(...(await raw.smembers(key)));
        else if (type === 'list') out.push(...(await raw.lrange(key, 0, -1)));
        else if (type === 'stream') out.push(JSON.stringify(await raw.xrange(key, '-', '+')));
        else out.push(`<${type}>`);
      }
      return out;
    },
    async deleteKeysMatching(pattern) {
      const found = await keys(`${keyPrefix}${pattern}`);
      return found.length === 0 ? 0 : raw.del(...found);
    },
    async cleanup() {
      const found = await keys(`${runPrefix}*`);
      if (found.length > 0) await raw.del(...found);
      raw.disconnect();
    },
  };
}
