import type { Clock } from '../../clock.js';
import { checkTtlMs } from '../time-arguments.js';
import type { RateCounterStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

/**
 * Counters as integers whose TTL is the window. `resetAt` is the store's clock plus the TTL Redis reports,
 * so it is when the count really resets, on this process's clock.
 */
export class RedisRateCounterStore implements RateCounterStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
  ) {}

  async increment(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    checkTtlMs(windowMs);
    const reply = await this.connection.run((redis) =>
      redis.fpRateIncrement(this.keys.rateCounter(key), windowMs),
    );
    const [count, remainingMs] = Array.isArray(reply) ? reply : [];
    if (typeof count !== 'number' || typeof remainingMs !== 'number' || remainingMs < 0)
      throw new Error('Unexpected reply from the rate increment script');
    return { count, resetAt: this.clock.now() + remainingMs };
  }

  async decrement(key: string): Promise<void> {
    await this.connection.run((redis) => redis.fpRateDecrement(this.keys.rateCounter(key)));
  }

  async reset(key: string): Promise<void> {
    await this.connection.run((redis) => redis.del(this.keys.rateCounter(key)));
  }
}
