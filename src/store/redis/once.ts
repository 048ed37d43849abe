import { checkTtlMs } from '../time-arguments.js';
import type { OnceStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export class RedisOnceStore implements OnceStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async putIfAbsent(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean> {
    checkTtlMs(ttlMs);
    const reply = await this.connection.run((redis) =>
      redis.set(this.keys.once(namespace, key), value, 'PX', ttlMs, 'NX'),
    );
    return reply === 'OK';
  }

  /** `SET NX GET` (Redis 7.0+): the set-if-absent and the read of the current value are one command. */
  async claim(namespace: string, key: string, value: string, ttlMs: number): Promise<string | null> {
    checkTtlMs(ttlMs);
    return this.connection.run((redis) =>
      redis.set(this.keys.once(namespace, key), value, 'PX', ttlMs, 'NX', 'GET'),
    );
  }

  async get(namespace: string, key: string): Promise<string | null> {
    return this.connection.run((redis) => redis.get(this.keys.once(namespace, key)));
  }

  async take(namespace: string, key: string): Promise<string | null> {
    return this.connection.run((redis) => redis.getdel(this.keys.once(namespace, key)));
  }

  async delete(namespace: string, key: string): Promise<void> {
    await this.connection.run((redis) => redis.del(this.keys.once(namespace, key)));
  }
}
