import { checkTimestamp, checkTtlMs } from '../time-arguments.js';
import type { NotBeforeStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export class RedisNotBeforeStore implements NotBeforeStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  /** Neither the mark nor its lifetime ever shrinks: a later, shorter raise keeps the longer one. */
  async raise(scope: string, at: number, ttlMs: number): Promise<void> {
    checkTimestamp('at', at);
    checkTtlMs(ttlMs);
    await this.connection.run((redis) => redis.fpRaise(this.keys.notBefore(scope), at, ttlMs));
  }

  async get(scopes: readonly string[]): Promise<Map<string, number>> {
    const marks = new Map<string, number>();
    if (scopes.length === 0) return marks;
    // One MGET: all marks share the {nb} hash tag, so this is one slot on Cluster too.
    const values = await this.connection.run((redis) =>
      redis.mget(scopes.map((scope) => this.keys.notBefore(scope))),
    );
    scopes.forEach((scope, i) => {
      const value = values[i];
      if (value !== null && value !== undefined) marks.set(scope, Number(value));
    });
    return marks;
  }
}
