import { listSessions, type IndexWalk } from '../session-listing.js';
import { newestFirst } from '../session-page.js';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  indexesOf,
  indexName,
  revokedRecord,
  type KeptSessionIndex,
  type StoredSessionRecord,
} from '../session-record.js';
import { checkTimestamp } from '../time-arguments.js';
import type { Page, SessionIndex, SessionRecord, SessionStore } from '../types.js';
import type { MemoryContext } from './context.js';
import { ExpiringMap } from './expiring-map.js';

const pruneIntervalMs = 60_000;

export class MemorySessionStore implements SessionStore {
  private readonly records: ExpiringMap<StoredSessionRecord>;
  /** Index name → sid → issuedAt. Members whose record is gone are dropped when met. */
  private readonly indexes = new Map<string, Map<string, number>>();
  private lastPrune: number;

  constructor(private readonly context: MemoryContext) {
    this.records = new ExpiringMap(context.clock);
    this.lastPrune = context.clock.now();
  }

  async create(record: SessionRecord): Promise<void> {
    this.context.assertOpen();
    checkTimestamp('issuedAt', record.issuedAt);
    checkTimestamp('expiresAt', record.expiresAt);
    if (record.expiresAt <= this.context.clock.now()) return; // Already over: there is nothing to keep.
    this.pruneNowAndThen();
    this.records.set(record.sid, encodeSessionRecord(record), record.expiresAt);
    for (const index of indexesOf(record)) {
      const name = indexName(index);
      const members = this.indexes.get(name) ?? new Map<string, number>();
      members.set(record.sid, record.issuedAt);
      this.indexes.set(name, members);
    }
  }

  async get(sid: string): Promise<SessionRecord | null> {
    this.context.assertOpen();
    const stored = this.records.get(sid);
    return stored === undefined ? null : decodeSessionRecord(sid, stored);
  }

  async revoke(sid: string, at: number): Promise<boolean> {
    this.context.assertOpen();
    checkTimestamp('at', at);
    const stored = this.records.get(sid);
    const expiresAt = this.records.expiresAt(sid);
    if (stored === undefined || expiresAt === undefined) return false;
    this.records.set(sid, revokedRecord(stored, at), expiresAt);
    return true;
  }

  async list(index: SessionIndex, options: { limit: number; cursor?: string }): Promise<Page<SessionRecord>> {
    this.context.assertOpen();
    return listSessions(index, options, (walked) => this.walk(walked));
  }

  private walk(index: KeptSessionIndex): IndexWalk {
    const name = indexName(index);
    return {
      membersAfter: async (after, count) => {
        this.context.assertOpen();
        const members = [...(this.indexes.get(name) ?? [])]
          .map(([sid, issuedAt]) => ({ sid, issuedAt }))
          .filter((member) => !after || newestFirst(member, after) > 0)
          .sort(newestFirst);
        return { members: members.slice(0, count), more: members.length > count };
      },
      recordsOf: async (members) => {
        this.context.assertOpen();
        const index = this.indexes.get(name);
        const records = members.map((member) => {
          const stored = this.records.get(member.sid);
          if (stored === undefined) index?.delete(member.sid);
          return stored === undefined ? null : decodeSessionRecord(member.sid, stored);
        });
        if (index?.size === 0) this.indexes.delete(name);
        return records;
      },
    };
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
