import { compareAuditIds, nextAuditId, parseAuditId } from '../audit-id.js';
import { checkPageLimit } from '../session-page.js';
import type { AuditEntry, AuditStore } from '../types.js';
import type { MemoryContext } from './context.js';

export class MemoryAuditStore implements AuditStore {
  /** Oldest first. */
  private readonly entries: AuditEntry[] = [];
  private appended = 0;
  private lastId: string | undefined;
  /** Like Redis's `MAXLEN ~`, the log is trimmed in batches: it keeps at least maxLength, about 1% more. */
  private readonly trimSlack: number;

  constructor(
    private readonly context: MemoryContext,
    private readonly maxLength: number,
  ) {
    this.trimSlack = Math.ceil(maxLength / 100);
  }

  async append(seal: (prevHash: string) => { entry: string; hash: string }): Promise<string> {
    for (;;) {
      this.context.assertOpen();
      const seen = this.appended;
      const sealed = seal(this.entries.at(-1)?.hash ?? '');
      // `seal` may itself have appended (it runs our code); then the head moved and we seal again.
      if (this.appended !== seen) continue;
      const id = nextAuditId(this.lastId, this.context.clock.now());
      this.lastId = id;
      this.appended += 1;
      this.entries.push({ id, entry: sealed.entry, hash: sealed.hash });
      if (this.entries.length > this.maxLength + this.trimSlack)
        this.entries.splice(0, this.entries.length - this.maxLength);
      return id;
    }
  }

  async read(options: { after?: string; limit: number }): Promise<AuditEntry[]> {
    this.context.assertOpen();
    checkPageLimit(options.limit);
    const { after } = options;
    let start = 0;
    if (after !== undefined) {
      parseAuditId(after);
      // First entry with an id greater than `after` (ids increase along the array).
      let end = this.entries.length;
      while (start < end) {
        const middle = (start + end) >>> 1;
        const entry = this.entries[middle];
        if (entry && compareAuditIds(entry.id, after) <= 0) start = middle + 1;
        else end = middle;
      }
    }
    return this.entries.slice(start, start + options.limit).map((entry) => ({ ...entry }));
  }
}
