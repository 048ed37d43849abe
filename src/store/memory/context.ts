import type { Clock } from '../../clock.js';
import { StoreUnavailableError } from '../../errors.js';

/** What the parts of one memory store share: its clock and whether it was closed. */
export class MemoryContext {
  private closed = false;

  constructor(readonly clock: Clock) {}

  /** A closed store answers like an unreachable one, so callers see the same failure as with Redis. */
  assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('The memory store is closed');
  }

  close(): void {
    this.closed = true;
  }
}
