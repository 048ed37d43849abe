import { checkExpectedVersion } from '../config-version.js';
import type { ConfigRecord, ConfigStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export class RedisConfigStore implements ConfigStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async get(name: string): Promise<ConfigRecord | null> {
    const [value, version] = await this.connection.run((redis) =>
      redis.hmget(this.keys.config(name), 'value', 'version'),
    );
    if (value === null || value === undefined || version === null || version === undefined) return null;
    return { value, version: Number(version) };
  }

  async put(name: string, value: string, expectedVersion: number): Promise<number | null> {
    checkExpectedVersion(expectedVersion);
    const version = await this.connection.run((redis) =>
      redis.fpConfigPut(this.keys.config(name), value, expectedVersion),
    );
    return typeof version === 'number' ? version : null;
  }
}
