import { checkTtlMs } from '../time-arguments.js';
import type { RateCounterStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryRateCounterStore implements RateCounterStore {
  /** The count of each live window; the entry expires when its window ends. */
  private readonly counts: ExpiringMap<number>;

  constructor(private readonly context: MemoryContext) {
    this.counts = new ExpiringMap(context.clock);
  }

  async increment(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    this.context.assertOpen();
    checkTtlMs(windowMs);
    const count = (this.counts.get(key) ?? 0) + 1;
    const resetAt = this.counts.expiresAt(key) ?? this.context.clock.now() + windowMs;
    this.counts.set(key, count, resetAt);
    return { count, resetAt };
  }

  async decrement(key: string): Promise<void> {
    this.context.assertOpen();
    const count = this.counts.get(key);
    const resetAt = this.counts.expiresAt(key);
    if (count !== undefined && count > 0 && resetAt !== undefined) this.counts.set(key, count - 1, resetAt);
  }

  async reset(key: string): Promise<void> {
    this.context.assertOpen();
    this.counts.delete(key);
  }
}
