import { checkTimestamp, checkTtlMs } from '../time-arguments.js';
import type { NotBeforeStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryNotBeforeStore implements NotBeforeStore {
  private readonly marks: ExpiringMap<number>;

  constructor(private readonly context: MemoryContext) {
    this.marks = new ExpiringMap(context.clock);
  }

  /** Neither the mark nor its lifetime ever shrinks: a later, shorter raise keeps the longer one. */
  async raise(scope: string, at: number, ttlMs: number): Promise<void> {
    this.context.assertOpen();
    checkTimestamp('at', at);
    checkTtlMs(ttlMs);
    const mark = Math.max(this.marks.get(scope) ?? at, at);
    const expiresAt = Math.max(this.marks.expiresAt(scope) ?? 0, this.context.clock.now() + ttlMs);
    this.marks.set(scope, mark, expiresAt);
  }

  async get(scopes: readonly string[]): Promise<Map<string, number>> {
    this.context.assertOpen();
    const marks = new Map<string, number>();
    for (const scope of scopes) {
      const mark = this.marks.get(scope);
      if (mark !== undefined) marks.set(scope, mark);
    }
    return marks;
  }
}
