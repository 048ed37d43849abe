import { checkExpectedVersion } from '../config-version.js';
import type { ConfigRecord, ConfigStore } from '../types.js';
import type { MemoryContext } from './context.js';

export class MemoryConfigStore implements ConfigStore {
  private readonly records = new Map<string, ConfigRecord>();

  constructor(private readonly context: MemoryContext) {}

  async get(name: string): Promise<ConfigRecord | null> {
    this.context.assertOpen();
    const record = this.records.get(name);
    return record ? { ...record } : null;
  }

  async put(name: string, value: string, expectedVersion: number): Promise<number | null> {
    this.context.assertOpen();
    checkExpectedVersion(expectedVersion);
    const current = this.records.get(name)?.version ?? 0;
    if (current !== expectedVersion) return null;
    const version = current + 1;
    this.records.set(name, { value, version });
    return version;
  }
}
