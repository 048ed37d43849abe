import { StoreUnavailableError } from '../../errors.js';
import { parseAuditId } from '../audit-id.js';
import { checkPageLimit } from '../session-page.js';
import type { AuditEntry, AuditStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

export interface RedisAuditOptions {
  maxLength: number;
  /** How long one batch of appends may keep losing the race to other writers before it gives up. */
  giveUpAfterMs: number;
}

type Seal = (prevHash: string) => { entry: string; hash: string };

interface PendingAppend {
  readonly seal: Seal;
  readonly resolve: (id: string) => void;
  readonly reject: (error: unknown) => void;
}

interface SealedAppend {
  readonly pending: PendingAppend;
  readonly entry: string;
  readonly hash: string;
}

/** Most appends written by one script call. */
const MAX_BATCH_ENTRIES = 128;
/**
 * Most entry text (in string length) one script call carries, unless its first entry alone is longer.
 * Keeps one call's arguments, and the time Redis spends running the script, small.
 */
const MAX_BATCH_TEXT_LENGTH = 1 << 20;

/**
 * The audit chain as a stream (`MAXLEN ~ maxLength`) plus a head hash updated in the same script.
 *
 * Group commit: appends that arrive while a write is in flight wait, in arrival order; when the write
 * finishes they are sealed as one chain segment (the first on the head, each next one on the hash before
 * it) and written by one script call (at most MAX_BATCH_ENTRIES entries and about MAX_BATCH_TEXT_LENGTH of
 * text; the rest wait for the next call). The script writes the whole segment only if the head is still
 * the one the segment was sealed on; otherwise it answers the new head and the whole segment is sealed
 * again on it (`seal` is pure in `prev`, see chain.ts). Writers on any number of instances therefore build
 * one chain, and one instance never races itself for the head.
 *
 * Each append resolves with its own entry's id, in chain order. A batch that cannot be written (Redis
 * unavailable, or still losing the race after `giveUpAfterMs`) rejects every append in it and only those;
 * the appends queued behind it are written next. An append whose `seal` throws is rejected alone.
 *
 * A failed write may still have landed (the reply was lost): its appends were reported failed although
 * their entries are in the chain, as with any single command. The chain stays valid either way, since the
 * next batch is checked against whatever head Redis holds.
 */
export class RedisAuditStore implements AuditStore {
  /** Appends not yet handed to a script call, oldest first. */
  private readonly waiting: PendingAppend[] = [];
  /** True while a batch is being written; appends arriving meanwhile wait for the next batch. */
  private writing = false;
  /** The head after this instance's last write; '' or stale is fine, the script corrects it. */
  private knownHead: string | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: RedisAuditOptions,
  ) {}

  append(seal: Seal): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ seal, resolve, reject });
      if (this.writing) return;
      this.writing = true;
      // Start on a microtask, so appends made in the same turn share the first batch.
      queueMicrotask(() => void this.writeWaiting());
    });
  }

  private async writeWaiting(): Promise<void> {
    try {
      while (this.waiting.length > 0) await this.writeNextBatch();
    } finally {
      this.writing = false;
    }
  }

  /** Writes the oldest waiting appends as one segment and settles each of them; never throws. */
  private async writeNextBatch(): Promise<void> {
    let unsettled: readonly PendingAppend[] = this.waiting.splice(0, MAX_BATCH_ENTRIES);
    try {
      const giveUpAt = Date.now() + this.options.giveUpAfterMs;
      let head =
        this.knownHead ??
        (await this.connection.run((redis) => redis.hget(this.keys.auditHead, 'hash'))) ??
        '';
      let segment = this.sealSegment(unsettled, head);
      const fits = countWithinLength(segment, MAX_BATCH_TEXT_LENGTH);
      if (fits < segment.length) {
        // Their seals are discarded: the next batch seals them again, on the head this one leaves.
        this.waiting.unshift(...segment.slice(fits).map((sealed) => sealed.pending));
        segment = segment.slice(0, fits);
      }
      for (;;) {
        unsettled = segment.map((sealed) => sealed.pending);
        if (segment.length === 0) return;
        const reply = await this.connection.run((redis) =>
          redis.fpAuditAppend(
            this.keys.auditLog,
            this.keys.auditHead,
            head,
            this.options.maxLength,
            ...segment.flatMap((sealed) => [sealed.entry, sealed.hash]),
          ),
        );
        const [appended, value] = Array.isArray(reply) ? reply : [];
        if (appended === 1 && isIdList(value, segment.length)) {
          this.knownHead = segment.at(-1)?.hash;
          unsettled = [];
          segment.forEach((sealed, i) => sealed.pending.resolve(value[i] ?? ''));
          return;
        }
        if (appended !== 0 || typeof value !== 'string')
          throw new Error('Unexpected reply from the audit append script');
        this.knownHead = value;
        if (Date.now() > giveUpAt)
          throw new StoreUnavailableError('The audit log is too busy to append to; try again shortly');
        head = value;
        segment = this.sealSegment(unsettled, head);
      }
    } catch (error) {
      for (const pending of unsettled) pending.reject(error);
    }
  }

  /**
   * Seals the appends in order as one chain segment starting at `head`. An append whose `seal` throws is
   * rejected with that error and left out; the next one is sealed on the same predecessor.
   */
  private sealSegment(appends: readonly PendingAppend[], head: string): SealedAppend[] {
    const segment: SealedAppend[] = [];
    let prev = head;
    for (const pending of appends) {
      let sealed: { entry: string; hash: string };
      try {
        sealed = pending.seal(prev);
      } catch (error) {
        pending.reject(error);
        continue;
      }
      segment.push({ pending, entry: sealed.entry, hash: sealed.hash });
      prev = sealed.hash;
    }
    return segment;
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

/** How many leading entries of `segment` fit in `maxLength` of text; always at least the first one. */
function countWithinLength(segment: readonly SealedAppend[], maxLength: number): number {
  let length = 0;
  for (let i = 0; i < segment.length; i++) {
    length += (segment[i]?.entry.length ?? 0) + (segment[i]?.hash.length ?? 0);
    if (i > 0 && length > maxLength) return i;
  }
  return segment.length;
}

function isIdList(value: unknown, length: number): value is string[] {
  return Array.isArray(value) && value.length === length && value.every((id) => typeof id === 'string');
}
