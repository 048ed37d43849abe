import { decodeSessionRecord, encodeSessionRecord, indexesOf, indexName } from '../session-record.js';
import type { SessionFields } from '../session-record.js';
import {
  checkPageLimit,
  decodeSessionCursor,
  encodeSessionCursor,
  newestFirst,
  type SessionPosition,
} from '../session-page.js';
import { checkTimestamp } from '../time-arguments.js';
import type { Page, SessionIndex, SessionRecord, SessionStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

const pruneIntervalMs = 60_000;

export class MemorySessionStore implements SessionStore {
  private readonly records: ExpiringMap<SessionFields>;
  private readonly sidsByAccessKey: ExpiringMap<string>;
  /** Index name → sid → issuedAt. Members whose record is gone are dropped when met. */
  private readonly indexes = new Map<string, Map<string, number>>();
  private lastPrune: number;

  constructor(private readonly context: MemoryContext) {
    this.records = new ExpiringMap(context.clock);
    this.sidsByAccessKey = new ExpiringMap(context.clock);
    this.lastPrune = context.clock.now();
  }

  async create(record: SessionRecord): Promise<void> {
    this.context.assertOpen();
    checkTimestamp('issuedAt', record.issuedAt);
    checkTimestamp('expiresAt', record.expiresAt);
    if (record.expiresAt <= this.context.clock.now()) return; // Already over: there is nothing to keep.
    this.pruneNowAndThen();
    this.records.set(record.sid, encodeSessionRecord(record), record.expiresAt);
    this.sidsByAccessKey.set(record.akid, record.sid, record.expiresAt);
    for (const index of indexesOf(record)) {
      const name = indexName(index);
      const members = this.indexes.get(name) ?? new Map<string, number>();
      members.set(record.sid, record.issuedAt);
      this.indexes.set(name, members);
    }
  }

  async get(sid: string): Promise<SessionRecord | null> {
    this.context.assertOpen();
    const fields = this.records.get(sid);
    return fields ? decodeSessionRecord(fields) : null;
  }

  async sidForAccessKey(akid: string): Promise<string | null> {
    this.context.assertOpen();
    return this.sidsByAccessKey.get(akid) ?? null;
  }

  async revoke(sid: string, at: number): Promise<boolean> {
    this.context.assertOpen();
    checkTimestamp('at', at);
    const fields = this.records.get(sid);
    if (!fields) return false;
    // The first revocation time stands.
    fields.revokedAt ??= String(at);
    return true;
  }

  async list(index: SessionIndex, options: { limit: number; cursor?: string }): Promise<Page<SessionRecord>> {
    this.context.assertOpen();
    checkPageLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeSessionCursor(options.cursor);
    const name = indexName(index);
    const members = this.indexes.get(name);
    if (!members) return { items: [] };
    const positions: (SessionPosition & { fields: SessionFields })[] = [];
    for (const [sid, issuedAt] of members) {
      const fields = this.records.get(sid);
      if (!fields) members.delete(sid);
      else if (!after || newestFirst({ issuedAt, sid }, after) > 0) positions.push({ issuedAt, sid, fields });
    }
    if (members.size === 0) this.indexes.delete(name);
    positions.sort(newestFirst);
    const page = positions.slice(0, options.limit);
    const items = page.map((position) => decodeSessionRecord(position.fields));
    const last = page.at(-1);
    return positions.length > options.limit && last
      ? { items, cursor: encodeSessionCursor(last) }
      : { items };
  }

  private pruneNowAndThen(): void {
    const now = this.context.clock.now();
    if (now - this.lastPrune < pruneIntervalMs) return;
    this.lastPrune = now;
    for (const [name, members] of this.indexes) {
      for (const sid of members.keys()) if (this.records.get(sid) === undefined) members.delete(sid);
      if (members.size === 0) this.indexes.delete(name);
    }
  }
}
