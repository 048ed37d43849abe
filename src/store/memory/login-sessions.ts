import { checkTtlMs } from '../time-arguments.js';
import type { LoginSessionStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryLoginSessionStore implements LoginSessionStore {
  private readonly values: ExpiringMap<string>;

  constructor(private readonly context: MemoryContext) {
    this.values = new ExpiringMap(context.clock);
  }

  async put(id: string, value: string, ttlMs: number): Promise<void> {
    this.context.assertOpen();
    checkTtlMs(ttlMs);
    this.values.set(id, value, this.context.clock.now() + ttlMs);
  }

  async get(id: string): Promise<string | null> {
    this.context.assertOpen();
    return this.values.get(id) ?? null;
  }

  async delete(id: string): Promise<void> {
    this.context.assertOpen();
    this.values.delete(id);
  }
}
