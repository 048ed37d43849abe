import { StoreUnavailableError } from '../../errors.js';
import { parseAuditId } from '../audit-id.js';
import { checkPageLimit } from '../session-page.js';
import type { AuditEntry, AuditStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export interface RedisAuditOptions {
  maxLength: number;
  /** How long one append may keep losing the race to other writers before it gives up. */
  giveUpAfterMs: number;
}

/**
 * The audit chain as a stream (`MAXLEN ~ maxLength`) plus a head hash updated in the same script. An
 * append seals against the head it believes current; the script appends only if that is still the head,
 * otherwise it answers the new head and the entry is sealed again. Writers on any number of instances
 * therefore build one chain.
 *
 * Within one instance appends run one at a time, each starting from the head the previous one left:
 * concurrent appends would all race for the same head and all but one seal again, round after round.
 */
export class RedisAuditStore implements AuditStore {
  private queue: Promise<unknown> = Promise.resolve();
  /** The head after this instance's last append; '' or stale is fine, the script corrects it. */
  private knownHead: string | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: RedisAuditOptions,
  ) {}

  append(seal: (prevHash: string) => { entry: string; hash: string }): Promise<string> {
    const appended = this.queue.then(() => this.appendNow(seal));
    this.queue = appended.catch(() => {});
    return appended;
  }

  private async appendNow(seal: (prevHash: string) => { entry: string; hash: string }): Promise<string> {
    const giveUpAt = Date.now() + this.options.giveUpAfterMs;
    let head =
      this.knownHead ?? (await this.connection.run((redis) => redis.hget(this.keys.auditHead, 'hash'))) ?? '';
    for (;;) {
      const sealed = seal(head);
      const reply = await this.connection.run((redis) =>
        redis.fpAuditAppend(
          this.keys.auditLog,
          this.keys.auditHead,
          head,
          sealed.entry,
          sealed.hash,
          this.options.maxLength,
        ),
      );
      const [appended, value] = Array.isArray(reply) ? reply : [];
      if (typeof value !== 'string') throw new Error('Unexpected reply from the audit append script');
      if (appended === 1) {
        this.knownHead = sealed.hash;
        return value;
      }
      this.knownHead = value;
      if (Date.now() > giveUpAt)
        throw new StoreUnavailableError('The audit log is too busy to append to; try again shortly');
      head = value;
    }
  }

  async read(options: { after?: string; limit: number }): Promise<AuditEntry[]> {
    checkPageLimit(options.limit);
    if (options.after !== undefined) parseAuditId(options.after);
    const start = options.after === undefined ? '-' : `(${options.after}`;
    const reply = await this.connection.run((redis) =>
      redis.xrange(this.keys.auditLog, start, '+', 'COUNT', options.limit),
    );
    return reply.map(([id, fields]) => {
      const entry: AuditEntry = { id, entry: '', hash: '' };
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = fields[i];
        const value = fields[i + 1] ?? '';
        if (name === 'entry') entry.entry = value;
        else if (name === 'hash') entry.hash = value;
      }
      return entry;
    });
  }
}
