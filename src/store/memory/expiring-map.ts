import type { Clock } from '../../clock.js';

/** How often (in clock time) a map drops all expired entries while it is being written to. */
const sweepIntervalMs = 60_000;

/**
 * A map whose entries live until their `expiresAt` (exclusive) on the given clock. Expired entries are
 * invisible at once and dropped when touched, plus a full sweep now and then on writes, so a long-running
 * dev server does not grow without bound.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private lastSweep: number;

  constructor(private readonly clock: Clock) {
    this.lastSweep = clock.now();
  }

  get(key: string): V | undefined {
    return this.entry(key)?.value;
  }

  expiresAt(key: string): number | undefined {
    return this.entry(key)?.expiresAt;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.sweepNowAndThen();
    this.entries.set(key, { value, expiresAt });
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  private entry(key: string): { value: V; expiresAt: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweepNowAndThen(): void {
    const now = this.clock.now();
    if (now - this.lastSweep < sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
