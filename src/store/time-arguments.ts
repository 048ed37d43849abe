/** Times and TTLs are programmer-supplied; a bad one is a bug, reported as a RangeError by both stores. */
export function checkTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

export function checkTimestamp(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new RangeError(`${name} must be ms since the epoch, got ${ms}`);
}
