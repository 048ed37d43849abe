import type { KeptSessionIndex } from './session-record.js';
import {
  checkPageLimit,
  decodeSessionCursor,
  encodeSessionCursor,
  type SessionPosition,
} from './session-page.js';
import type { Page, SessionIndex, SessionRecord } from './types.js';

/**
 * How sessions are listed, shared by both stores so that the same data gives the same pages.
 *
 * Only the `all` and `principal` indexes are kept at mint time: indexes per role, group and idp would cost
 * more than the record itself (a member of a large sorted set takes about 130 bytes in Redis, and a user
 * may have dozens of groups). A listing by role, group or idp walks the `all` index newest first and keeps
 * the records that match. A page examines at most MAX_EXAMINED_PER_PAGE members (or `limit + 1`, if that
 * is more, so a page of live sessions can always fill); when the bound is reached first, the page comes
 * back short, possibly empty, with a cursor at the last member examined, so the next page goes on from
 * there.
 *
 * The pages depend only on the data, never on how the walk is batched: members are examined one by one in
 * listing order, and a store tells exactly whether any member follows the ones it returned.
 */
export const MAX_EXAMINED_PER_PAGE = 2_000;

/** One index as a listing walks it. */
export interface IndexWalk {
  /**
   * Members listed after `after` (from the start when undefined), newest first: at least `count` of them
   * unless fewer remain, possibly more. `more` is true exactly when some member follows the last one given.
   */
  membersAfter(
    after: SessionPosition | undefined,
    count: number,
  ): Promise<{ members: SessionPosition[]; more: boolean }>;
  /**
   * The records of `members`, in their order, null for a member whose record is gone (expired); the store
   * also drops such members from the index. Throws on a damaged record.
   */
  recordsOf(members: readonly SessionPosition[]): Promise<(SessionRecord | null)[]>;
}

/** A filtered walk cannot know how far it must read: batches start at the page size and double up to this. */
const maxBatchSize = 500;

/** The page of `index` after `cursor`, reading the index through `walkOf`. */
export async function listSessions(
  index: SessionIndex,
  options: { limit: number; cursor?: string },
  walkOf: (walked: KeptSessionIndex) => IndexWalk,
): Promise<Page<SessionRecord>> {
  checkPageLimit(options.limit);
  const { limit } = options;
  let after = options.cursor === undefined ? undefined : decodeSessionCursor(options.cursor);
  const walk = walkOf(walkedIndexOf(index));
  const bound = Math.max(MAX_EXAMINED_PER_PAGE, limit + 1);
  const filtered = index.by === 'role' || index.by === 'group' || index.by === 'idp';
  const found: SessionRecord[] = [];
  let examined = 0;
  let batchSize = limit + 1;
  for (;;) {
    // One more match than the page holds tells whether another page follows.
    const wanted = filtered ? Math.min(batchSize, maxBatchSize) : limit + 1 - found.length;
    batchSize *= 2;
    const { members, more } = await walk.membersAfter(after, Math.min(wanted, bound - examined));
    const records = await walk.recordsOf(members);
    for (const [i, member] of members.entries()) {
      examined++;
      after = member;
      const record = records[i];
      if (record && matches(record, index)) {
        const lastFound = found.at(-1);
        // A match beyond a full page: another page follows, and starts after this page's last session.
        if (lastFound && found.length === limit)
          return { items: found, cursor: encodeSessionCursor(lastFound) };
        found.push(record);
      }
      if (examined >= bound) {
        const last = i === members.length - 1 && !more;
        return last ? { items: found } : { items: found, cursor: encodeSessionCursor(member) };
      }
    }
    if (!more) return { items: found };
  }
}

/** The kept index a listing walks. */
function walkedIndexOf(index: SessionIndex): KeptSessionIndex {
  return index.by === 'all' || index.by === 'principal' ? index : { by: 'all' };
}

function matches(record: SessionRecord, index: SessionIndex): boolean {
  switch (index.by) {
    case 'all':
      return true;
    case 'principal':
      return record.principal === index.value;
    case 'role':
      return record.role === index.value;
    case 'idp':
      return record.idp === index.value;
    case 'group':
      return record.groups.includes(index.value);
  }
}
