import { checkTtlMs } from '../time-arguments.js';
import type { OnceStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

export class MemoryOnceStore implements OnceStore {
  private readonly values: ExpiringMap<string>;

  constructor(private readonly context: MemoryContext) {
    this.values = new ExpiringMap(context.clock);
  }

  async putIfAbsent(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean> {
    this.context.assertOpen();
    checkTtlMs(ttlMs);
    const id = entryId(namespace, key);
    if (this.values.get(id) !== undefined) return false;
    this.values.set(id, value, this.context.clock.now() + ttlMs);
    return true;
  }

  async claim(namespace: string, key: string, value: string, ttlMs: number): Promise<string | null> {
    this.context.assertOpen();
    checkTtlMs(ttlMs);
    const id = entryId(namespace, key);
    const existing = this.values.get(id);
    if (existing !== undefined) return existing;
    this.values.set(id, value, this.context.clock.now() + ttlMs);
    return null;
  }

  async get(namespace: string, key: string): Promise<string | null> {
    this.context.assertOpen();
    return this.values.get(entryId(namespace, key)) ?? null;
  }

  async take(namespace: string, key: string): Promise<string | null> {
    this.context.assertOpen();
    const id = entryId(namespace, key);
    const value = this.values.get(id);
    this.values.delete(id);
    return value ?? null;
  }

  async delete(namespace: string, key: string): Promise<void> {
    this.context.assertOpen();
    this.values.delete(entryId(namespace, key));
  }
}

function entryId(namespace: string, key: string): string {
  return JSON.stringify([namespace, key]);
}
