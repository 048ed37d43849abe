import type { Clock } from '../../clock.js';
import { listSessions, type IndexWalk } from '../session-listing.js';
import { newestFirst, type SessionPosition } from '../session-page.js';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  indexesOf,
  type KeptSessionIndex,
} from '../session-record.js';
import { checkTimestamp } from '../time-arguments.js';
import type { Page, SessionIndex, SessionRecord, SessionStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

/**
 * Index members issued this long before a new session are trimmed when it is added: no session lives
 * longer than 12 hours (the longest DurationSeconds), and the extra hour covers clock differences between
 * the instances that wrote them.
 */
export const INDEX_HORIZON_MS = 13 * 3600 * 1000;

/**
 * Sessions as one string each (see session-record.ts) with the `all` and `principal` indexes beside them.
 * Lifetimes are sent as TTLs measured on the store's clock (expiresAt - now), so the process's clock alone
 * decides when a session ends; Redis only counts down.
 */
export class RedisSessionStore implements SessionStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly clock: Clock,
  ) {}

  /**
   * One round trip: the record and its index entries are issued in one tick, and the connection's
   * auto-pipelining sends them as one batch, together with whatever other requests issued in that tick.
   * (An explicit pipeline or MULTI would be a write of its own; MULTI also adds two commands and a QUEUED
   * reply per command, for an isolation the order below makes unnecessary.)
   *
   * Indexes only after the record exists: a listing that meets an index member without a record removes
   * that member, so an entry must never be visible before its record. The record comes first in the batch,
   * and Redis runs the commands of one connection in the order they were sent; that holds because every
   * key lives on one node (on Cluster the batch would be split by node and this order lost).
   */
  async create(record: SessionRecord): Promise<void> {
    checkTimestamp('issuedAt', record.issuedAt);
    checkTimestamp('expiresAt', record.expiresAt);
    const ttlMs = record.expiresAt - this.clock.now();
    if (ttlMs <= 0) return; // Already over: there is nothing to keep.
    const stored = encodeSessionRecord(record);
    await this.connection.run((redis) =>
      Promise.all([
        // SET replaces any earlier record whole, TTL included.
        redis.set(this.keys.session(record.sid), stored, 'PX', ttlMs),
        ...indexesOf(record).map((index) =>
          redis.fpIndexAdd(
            this.keys.index(index),
            record.issuedAt,
            record.sid,
            ttlMs,
            record.issuedAt - INDEX_HORIZON_MS,
          ),
        ),
      ]),
    );
  }

  async get(sid: string): Promise<SessionRecord | null> {
    const stored = await this.connection.run((redis) => redis.get(this.keys.session(sid)));
    return stored === null ? null : decodeSessionRecord(sid, stored);
  }

  async revoke(sid: string, at: number): Promise<boolean> {
    checkTimestamp('at', at);
    const revoked = await this.connection.run((redis) => redis.fpRevoke(this.keys.session(sid), at));
    return revoked === 1;
  }

  async list(index: SessionIndex, options: { limit: number; cursor?: string }): Promise<Page<SessionRecord>> {
    return listSessions(index, options, (walked) => this.walk(walked));
  }

  private walk(index: KeptSessionIndex): IndexWalk {
    const key = this.keys.index(index);
    return {
      membersAfter: (after, count) => this.membersAfter(key, after, count),
      /**
       * One round trip: a GET per record, auto-pipelined (rather than MGET, whose keys would have to share
       * a Cluster slot). Members whose record is gone are removed from the index.
       */
      recordsOf: async (members) => {
        const stored = await this.connection.run((redis) =>
          Promise.all(members.map((member) => redis.get(this.keys.session(member.sid)))),
        );
        const gone = members.filter((_, i) => stored[i] === null).map((member) => member.sid);
        if (gone.length > 0) await this.connection.run((redis) => redis.zrem(key, ...gone));
        return members.map((member, i) => {
          const record = stored[i];
          return record === null || record === undefined ? null : decodeSessionRecord(member.sid, record);
        });
      },
    };
  }

  /**
   * Members listed after `after`, newest first: the rest of its own issuedAt (a score range cannot start
   * inside one score, so the whole tie group is read; ties are sessions of one millisecond) and then up to
   * `count` strictly older members. One older member more is asked for, to tell whether any follows.
   */
  private async membersAfter(
    key: string,
    after: SessionPosition | undefined,
    count: number,
  ): Promise<{ members: SessionPosition[]; more: boolean }> {
    const [ties, older] = await this.connection.run((redis) =>
      Promise.all([
        after === undefined
          ? []
          : redis.zrange(key, String(after.issuedAt), String(after.issuedAt), 'BYSCORE', 'REV', 'WITHSCORES'),
        redis.zrange(
          key,
          after === undefined ? '+inf' : `(${after.issuedAt}`,
          '-inf',
          'BYSCORE',
          'REV',
          'LIMIT',
          0,
          count + 1,
          'WITHSCORES',
        ),
      ]),
    );
    const olderMembers = positions(older);
    const more = olderMembers.length > count;
    if (more) olderMembers.pop();
    const members = after
      ? [...positions(ties).filter((member) => newestFirst(member, after) > 0), ...olderMembers]
      : olderMembers;
    return { members, more };
  }
}

/** A `WITHSCORES` reply, flat [member, score, ...], as positions. */
function positions(reply: string[]): SessionPosition[] {
  const members: SessionPosition[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const sid = reply[i];
    const score = reply[i + 1];
    if (sid !== undefined && score !== undefined) members.push({ sid, issuedAt: Number(score) });
  }
  return members;
}
