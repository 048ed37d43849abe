import { checkTtlMs } from '../time-arguments.js';
import type { LoginSessionStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export class RedisLoginSessionStore implements LoginSessionStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async put(id: string, value: string, ttlMs: number): Promise<void> {
    checkTtlMs(ttlMs);
    await this.connection.run((redis) => redis.set(this.keys.loginSession(id), value, 'PX', ttlMs));
  }

  async get(id: string): Promise<string | null> {
    return this.connection.run((redis) => redis.get(this.keys.loginSession(id)));
  }

  async delete(id: string): Promise<void> {
    await this.connection.run((redis) => redis.del(this.keys.loginSession(id)));
  }
}
