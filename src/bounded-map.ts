/**
 * A Map that never holds more than `maxEntries`: adding a key when it is full drops the oldest entry
 * (insertion order; setting a key again makes it the newest). The in-process caches of verified tokens,
 * liveness answers and session records use it, so nothing a caller sends can grow memory without bound.
 */
export class BoundedMap<V> {
  readonly #entries = new Map<string, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0)
      throw new RangeError(`maxEntries must be a non-negative integer, got ${maxEntries}`);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  /** Stores `value` as the newest entry; with `maxEntries` 0 nothing is stored. */
  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.maxEntries === 0) return;
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#entries.entries();
  }
}
