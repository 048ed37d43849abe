import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { StoreUnavailableError, ValidationError } from '../../src/errors.js';
import { MAX_EXAMINED_PER_PAGE } from '../../src/store/session-listing.js';
import type { AuditEntry, SessionIndex, SessionRecord, Store } from '../../src/store/types.js';

/**
 * One backend under test. Each test gets a fresh backend: its stores start empty and are closed by
 * the suite after the test.
 */
export interface ConformanceBackend {
  /** The clock the stores run on; the suite builds every time from it. */
  clock: Clock;
  /** Lets `ms` of store time pass: advances a manual clock, or sleeps for a backend on real time. */
  elapse(ms: number): Promise<void>;
  /** A store on a fresh, empty key space, with `auditMaxLength` 1000. */
  open(): Store;
  /** Another store on the same data as `store`, as a second fedproxy instance would have. */
  openPeer(store: Store): Store;
  /** Runs after each test, once its stores are closed. */
  cleanup?(): Promise<void>;
}

/** A lifetime short enough to wait out in a test on real time. */
const SHORT_TTL_MS = 250;
/** Longer than SHORT_TTL_MS, with room for a busy machine. */
const PAST_SHORT_TTL_MS = 450;
const LONG_TTL_MS = 60_000;
/**
 * How far two readings of one window's end may differ on a backend on real time: the remaining TTL and
 * the clock are read a round trip apart.
 */
const TIME_SLACK_MS = 50;
/** Keys that a careless encoding would merge: separators, hash-tag braces, escapes, lone surrogates. */
const LOOKALIKE_KEYS = [
  'a:b',
  'a%3Ab',
  'a%253Ab',
  '{a}:b',
  '%7Ba%7D:b',
  '\uD800',
  '\uDC00',
  '\uFFFD',
  '%uD800',
  '\uD83D\uDE00',
  '\uDE00\uD83D',
];
const AUDIT_MAX_LENGTH = 1000;

/**
 * The store contract of src/store/types.ts as tests. Every implementation runs all of them:
 * `describeStoreConformance('memory', ...)`, `describeStoreConformance('redis', ...)`.
 */
export function describeStoreConformance(name: string, makeBackend: () => ConformanceBackend): void {
  describe(`store conformance: ${name}`, () => {
    let backend: ConformanceBackend;
    let opened: Store[];
    let store: Store;

    const open = () => remember(backend.open());
    const peerOf = (of: Store) => remember(backend.openPeer(of));
    const remember = (made: Store) => {
      opened.push(made);
      return made;
    };
    const now = () => backend.clock.now();
    const session = (overrides: Partial<SessionRecord> = {}): SessionRecord => {
      const issuedAt = overrides.issuedAt ?? now();
      return {
        sid: `s-${randomBytes(8).toString('hex')}`,
        akid: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        kid: 'k1',
        principal: 'p-alice',
        idp: 'corp',
        issuer: 'https://login.corp.example',
        subject: 'alice',
        username: 'alice',
        groups: ['engineers'],
        role: 'reports-reader',
        sessionName: 'alice',
        policy: '{"Version":"2012-10-17","Statement":[]}',
        policyHash: 'ph',
        issuedAt,
        expiresAt: issuedAt + LONG_TTL_MS,
        ...overrides,
      };
    };
    /** Every page of an index, following cursors; fails on a cursor loop. */
    const listAll = async (on: Store, index: SessionIndex, limit: number) => {
      const pages: SessionRecord[][] = [];
      let cursor: string | undefined;
      do {
        const page = await on.sessions.list(index, { limit, ...(cursor === undefined ? {} : { cursor }) });
        pages.push(page.items);
        cursor = page.cursor;
        expect(pages.length).toBeLessThan(100);
      } while (cursor !== undefined);
      return pages;
    };
    const sids = (records: SessionRecord[]) => records.map((record) => record.sid);
    const expectAbout = (actual: number, expected: number) =>
      expect(Math.abs(actual - expected), `${actual} is not about ${expected}`).toBeLessThanOrEqual(
        TIME_SLACK_MS,
      );

    beforeEach(() => {
      backend = makeBackend();
      opened = [];
      store = open();
    });

    afterEach(async () => {
      await Promise.all(opened.map((made) => made.close()));
      await backend.cleanup?.();
    });

    describe('sessions', () => {
      it('get returns the record as created, and null for an unknown sid', async () => {
        const full = session({ groups: ['a', 'b'], sessionPolicy: '{"Statement":[]}' });
        const plain = session({ groups: [] });
        await store.sessions.create(full);
        await store.sessions.create(plain);
        expect(await store.sessions.get(full.sid)).toEqual(full);
        expect(await store.sessions.get(plain.sid)).toEqual(plain);
        expect(await store.sessions.get('s-unknown')).toBeNull();
      });

      it('a session created on one instance is visible on another', async () => {
        const record = session();
        await store.sessions.create(record);
        const peer = peerOf(store);
        expect(await peer.sessions.get(record.sid)).toEqual(record);
      });

      it('a session is gone once expiresAt has passed', async () => {
        const short = session({ expiresAt: now() + SHORT_TTL_MS });
        const long = session();
        await store.sessions.create(short);
        await store.sessions.create(long);
        expect(await store.sessions.get(short.sid)).not.toBeNull();
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.sessions.get(short.sid)).toBeNull();
        expect(await store.sessions.revoke(short.sid, now())).toBe(false);
        expect(await store.sessions.get(long.sid)).toEqual(long);
      });

      it('creating a session that has already expired stores nothing', async () => {
        const record = session({ issuedAt: now() - 2000, expiresAt: now() - 1000 });
        await store.sessions.create(record);
        expect(await store.sessions.get(record.sid)).toBeNull();
        expect((await store.sessions.list({ by: 'all' }, { limit: 10 })).items).toEqual([]);
      });

      it('revoke marks the session revoked and the first revocation time stands', async () => {
        const record = session();
        const at = now();
        await store.sessions.create(record);
        expect(await store.sessions.revoke(record.sid, at + 5)).toBe(true);
        expect(await store.sessions.revoke(record.sid, at + 9)).toBe(true);
        expect(await store.sessions.get(record.sid)).toEqual({ ...record, revokedAt: at + 5 });
      });

      it('revoke answers false for an unknown session and creates nothing', async () => {
        expect(await store.sessions.revoke('s-unknown', now())).toBe(false);
        expect(await store.sessions.get('s-unknown')).toBeNull();
      });

      it('a revoked session stays listed, with revokedAt, until it expires', async () => {
        const record = session({ expiresAt: now() + SHORT_TTL_MS });
        await store.sessions.create(record);
        const at = now();
        await store.sessions.revoke(record.sid, at);
        const listed = await store.sessions.list({ by: 'principal', value: record.principal }, { limit: 10 });
        expect(listed.items).toEqual([{ ...record, revokedAt: at }]);
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect((await store.sessions.list({ by: 'all' }, { limit: 10 })).items).toEqual([]);
      });

      it('list finds sessions by principal, role, group and idp, newest first', async () => {
        const t = now();
        const a = session({
          issuedAt: t - 30,
          principal: 'p-a',
          role: 'r1',
          groups: ['g1', 'g2'],
          idp: 'corp',
        });
        const b = session({ issuedAt: t - 20, principal: 'p-b', role: 'r2', groups: ['g2'], idp: 'corp' });
        const c = session({ issuedAt: t - 10, principal: 'p-a', role: 'r2', groups: [], idp: 'k8s' });
        for (const record of [b, c, a]) await store.sessions.create(record);
        const list = async (index: SessionIndex) =>
          sids((await store.sessions.list(index, { limit: 10 })).items);
        expect(await list({ by: 'all' })).toEqual(sids([c, b, a]));
        expect(await list({ by: 'principal', value: 'p-a' })).toEqual(sids([c, a]));
        expect(await list({ by: 'role', value: 'r2' })).toEqual(sids([c, b]));
        expect(await list({ by: 'group', value: 'g1' })).toEqual(sids([a]));
        expect(await list({ by: 'group', value: 'g2' })).toEqual(sids([b, a]));
        expect(await list({ by: 'idp', value: 'k8s' })).toEqual(sids([c]));
        expect(await list({ by: 'role', value: 'nobody-has-this' })).toEqual([]);
      });

      it('sessions issued in the same millisecond are ordered by sid, descending', async () => {
        const t = now();
        const records = ['s-b', 's-d', 's-a', 's-c'].map((sid) => session({ sid, issuedAt: t }));
        for (const record of records) await store.sessions.create(record);
        const listed = await store.sessions.list({ by: 'all' }, { limit: 10 });
        expect(sids(listed.items)).toEqual(['s-d', 's-c', 's-b', 's-a']);
      });

      it('list pages with a cursor through every session once, across ties of issuedAt', async () => {
        const t = now();
        const issued = [t - 50, t - 40, t - 40, t - 40, t - 30, t - 20, t - 20, t - 10];
        const records = issued.map((issuedAt, i) => session({ sid: `s-${i}`, issuedAt }));
        for (const record of [...records].reverse()) await store.sessions.create(record);
        const expected = [...records].sort((x, y) => y.issuedAt - x.issuedAt || (x.sid < y.sid ? 1 : -1));
        for (const limit of [1, 2, 3, 4, 8]) {
          const pages = await listAll(store, { by: 'all' }, limit);
          expect(pages.flat()).toEqual(expected);
          expect(pages.length).toBe(Math.ceil(records.length / limit));
          for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
        }
        const exact = await store.sessions.list({ by: 'all' }, { limit: records.length });
        expect(exact.cursor).toBeUndefined();
      });

      it('a cursor keeps its place when sessions are created and expire between pages', async () => {
        const t = now();
        const old = [1, 2, 3, 4].map((i) => session({ sid: `s-old-${i}`, issuedAt: t - 100 + i }));
        const dying = session({ sid: 's-dying', issuedAt: t - 100, expiresAt: t + SHORT_TTL_MS });
        for (const record of [...old, dying]) await store.sessions.create(record);
        const first = await store.sessions.list({ by: 'all' }, { limit: 2 });
        expect(sids(first.items)).toEqual(['s-old-4', 's-old-3']);
        await store.sessions.create(session({ sid: 's-new', issuedAt: t }));
        await backend.elapse(PAST_SHORT_TTL_MS);
        const second = await store.sessions.list({ by: 'all' }, { limit: 2, cursor: defined(first.cursor) });
        expect(sids(second.items)).toEqual(['s-old-2', 's-old-1']);
        expect(second.cursor).toBeUndefined();
      });

      it('list skips sessions that expired, however many sit between live ones', async () => {
        const t = now();
        const live = [0, 1, 2].map((i) => session({ sid: `s-live-${i}`, issuedAt: t - i * 10 }));
        const dead = Array.from({ length: 7 }, (_, i) =>
          session({ sid: `s-dead-${i}`, issuedAt: t - 5 - i, expiresAt: t + SHORT_TTL_MS }),
        );
        for (const record of [...live, ...dead]) await store.sessions.create(record);
        await backend.elapse(PAST_SHORT_TTL_MS);
        const pages = await listAll(store, { by: 'role', value: 'reports-reader' }, 2);
        expect(pages.map(sids)).toEqual([['s-live-0', 's-live-1'], ['s-live-2']]);
        expect(sids((await store.sessions.list({ by: 'all' }, { limit: 10 })).items)).toEqual(sids(live));
      });

      it('an index lives as long as its longest member, whichever was created first', async () => {
        const longFirst = [
          session({ role: 'long-first' }),
          session({ role: 'long-first', expiresAt: now() + SHORT_TTL_MS }),
        ];
        const shortFirst = [
          session({ role: 'short-first', expiresAt: now() + SHORT_TTL_MS }),
          session({ role: 'short-first' }),
        ];
        for (const record of [...longFirst, ...shortFirst]) await store.sessions.create(record);
        await backend.elapse(PAST_SHORT_TTL_MS);
        const listed = async (index: SessionIndex) =>
          sids((await store.sessions.list(index, { limit: 10 })).items);
        expect(await listed({ by: 'role', value: 'long-first' })).toEqual(sids([longFirst[0]!]));
        expect(await listed({ by: 'role', value: 'short-first' })).toEqual(sids([shortFirst[1]!]));
        expect(await listed({ by: 'group', value: 'engineers' })).toHaveLength(2);
      });

      it('get and list return fields as created, byte for byte, whatever they hold', async () => {
        const records = [
          // Policies as given by hand: not the compact JSON of their value, so kept as text.
          session({ policy: '{\n  "Version": "2012-10-17",\n  "Statement": []\n}', sessionPolicy: '{ }' }),
          // Valid JSON that is not an object, and text that is not JSON at all.
          session({ policy: '"a string"', sessionPolicy: 'line one\nline two' }),
          session({ policy: '[1,2,3]', sessionPolicy: '[1,2.50,3]' }),
          session({ policy: '{"a":1,"a":2}', sessionPolicy: 'null' }),
          session({ policy: '{"2":"b","1":"a"}', sessionPolicy: '{"x":1e400}' }),
          // Separators, quotes, escapes, non-ASCII and lone surrogates in text fields.
          session({
            username: 'ünï "quoted" \\ back\nslash\u2028',
            sessionName: '\uD800\uDC00\uDFFF',
            groups: ['a,b', '', '["x"]', '\n', '\uD83D\uDE00'],
            subject: '\u0000nul',
          }),
        ];
        for (const record of records) await store.sessions.create(record);
        for (const record of records) expect(await store.sessions.get(record.sid)).toEqual(record);
        const listed = await store.sessions.list({ by: 'all' }, { limit: 10 });
        expect([...listed.items].sort((x, y) => (x.sid < y.sid ? -1 : 1))).toEqual(
          [...records].sort((x, y) => (x.sid < y.sid ? -1 : 1)),
        );
      });

      it('a revocation survives in the record: the first time stands, in get and in every listing', async () => {
        const record = session({ policy: '{"a":"with\\nescaped newline"}', sessionPolicy: 'raw\nnewline' });
        const at = now();
        await store.sessions.create(record);
        expect(await store.sessions.revoke(record.sid, at + 7)).toBe(true);
        expect(await store.sessions.revoke(record.sid, at + 3)).toBe(true);
        const revoked = { ...record, revokedAt: at + 7 };
        expect(await store.sessions.get(record.sid)).toEqual(revoked);
        for (const index of [
          { by: 'all' },
          { by: 'principal', value: record.principal },
          { by: 'role', value: record.role },
          { by: 'group', value: 'engineers' },
          { by: 'idp', value: record.idp },
        ] satisfies SessionIndex[]) {
          expect((await store.sessions.list(index, { limit: 10 })).items).toEqual([revoked]);
        }
      });

      it('list by role, group and idp pages through exactly the matching sessions, newest first', async () => {
        const t = now();
        const roles = ['r-a', 'r-b', 'r-c'];
        const idps = ['corp', 'k8s'];
        const records = Array.from({ length: 30 }, (_, i) =>
          session({
            sid: `s-${String(i).padStart(2, '0')}`,
            // Ties of issuedAt, so pages also end inside one millisecond.
            issuedAt: t - 100 + Math.floor(i / 3),
            principal: `p-${i % 4}`,
            role: roles[i % 3]!,
            idp: idps[i % 2]!,
            groups: [...(i % 2 === 0 ? ['even'] : []), ...(i % 5 === 0 ? ['fifth'] : []), 'everyone'],
          }),
        );
        await Promise.all(records.map((record) => store.sessions.create(record)));
        const newestFirst = [...records].sort((x, y) => y.issuedAt - x.issuedAt || (x.sid < y.sid ? 1 : -1));
        const cases: [SessionIndex, (record: SessionRecord) => boolean][] = [
          [{ by: 'role', value: 'r-b' }, (record) => record.role === 'r-b'],
          [{ by: 'idp', value: 'k8s' }, (record) => record.idp === 'k8s'],
          [{ by: 'group', value: 'fifth' }, (record) => record.groups.includes('fifth')],
          [{ by: 'group', value: 'even' }, (record) => record.groups.includes('even')],
          [{ by: 'group', value: 'everyone' }, () => true],
          [{ by: 'principal', value: 'p-1' }, (record) => record.principal === 'p-1'],
          [{ by: 'group', value: 'nobody' }, () => false],
        ];
        for (const [index, wanted] of cases) {
          const expected = newestFirst.filter(wanted);
          for (const limit of [1, 2, 4, 7, 50]) {
            const pages = await listAll(store, index, limit);
            expect(pages.flat(), `${JSON.stringify(index)} by ${limit}`).toEqual(expected);
            // Far below the bound on examined sessions, every page but the last is full.
            expect(pages.length).toBe(Math.max(1, Math.ceil(expected.length / limit)));
          }
        }
      });

      it('a filtered page that examines its bound of sessions comes back short with a cursor, and the walk goes on', async () => {
        const t = now();
        let made = 0;
        const make = (count: number, role: string) =>
          Array.from({ length: count }, () => {
            made++;
            return session({ sid: `s-${String(made).padStart(5, '0')}`, issuedAt: t - made, role });
          });
        const first = make(1, 'rare');
        const fillFirstPage = make(MAX_EXAMINED_PER_PAGE - 1, 'common');
        const fillSecondPage = make(MAX_EXAMINED_PER_PAGE, 'common');
        const fullPage = make(3, 'rare');
        const between = make(5, 'common');
        const last = make(1, 'rare');
        const records = [...first, ...fillFirstPage, ...fillSecondPage, ...fullPage, ...between, ...last];
        for (let i = 0; i < records.length; i += 500)
          await Promise.all(records.slice(i, i + 500).map((record) => store.sessions.create(record)));

        const rare: SessionIndex = { by: 'role', value: 'rare' };
        const list = (cursor?: string) =>
          store.sessions.list(rare, { limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        // The bound is reached after the first match: a short page.
        const page1 = await list();
        expect(sids(page1.items)).toEqual(sids(first));
        // No match within the bound: an empty page that still has a cursor.
        const page2 = await list(defined(page1.cursor));
        expect(page2.items).toEqual([]);
        // A third match fills the page before the bound: the cursor is at the page's last session.
        const page3 = await list(defined(page2.cursor));
        expect(sids(page3.items)).toEqual(sids(fullPage.slice(0, 2)));
        const page4 = await list(defined(page3.cursor));
        expect(sids(page4.items)).toEqual(sids([fullPage[2]!, ...last]));
        expect(page4.cursor).toBeUndefined();
        // Unfiltered listings fill their pages: every session matches.
        const all = await store.sessions.list({ by: 'all' }, { limit: 100 });
        expect(sids(all.items)).toEqual(sids(records.slice(0, 100)));
        expect(all.cursor).toBeDefined();
      });

      it('list rejects a malformed cursor and an out-of-range limit with ValidationError', async () => {
        await expect(
          store.sessions.list({ by: 'all' }, { limit: 10, cursor: 'not a cursor' }),
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(store.sessions.list({ by: 'all' }, { limit: 0 })).rejects.toBeInstanceOf(
          ValidationError,
        );
      });
    });

    describe('not-before marks', () => {
      it('get returns the marks of the scopes that have one and leaves the others out', async () => {
        await store.notBefore.raise('global', 1000, LONG_TTL_MS);
        await store.notBefore.raise('role:admin', 2000, LONG_TTL_MS);
        const marks = await store.notBefore.get(['global', 'idp:corp', 'role:admin', 'principal:p-x']);
        expect(marks).toEqual(
          new Map([
            ['global', 1000],
            ['role:admin', 2000],
          ]),
        );
        expect(await store.notBefore.get([])).toEqual(new Map());
      });

      it('raise never lowers a mark', async () => {
        await store.notBefore.raise('principal:p-a', 5000, LONG_TTL_MS);
        await store.notBefore.raise('principal:p-a', 3000, LONG_TTL_MS);
        expect(await store.notBefore.get(['principal:p-a'])).toEqual(new Map([['principal:p-a', 5000]]));
        await store.notBefore.raise('principal:p-a', 7000, LONG_TTL_MS);
        expect(await store.notBefore.get(['principal:p-a'])).toEqual(new Map([['principal:p-a', 7000]]));
      });

      it('concurrent raises from two instances keep the highest mark', async () => {
        const peer = peerOf(store);
        const marks = Array.from({ length: 40 }, (_, i) => 1_000_000 + ((i * 7919) % 40));
        await Promise.all(
          marks.map((at, i) => (i % 2 ? store : peer).notBefore.raise('global', at, LONG_TTL_MS)),
        );
        expect(await store.notBefore.get(['global'])).toEqual(new Map([['global', Math.max(...marks)]]));
      });

      it('a mark is kept for its TTL and then dropped', async () => {
        await store.notBefore.raise('group:ops', 1000, SHORT_TTL_MS);
        expect((await store.notBefore.get(['group:ops'])).get('group:ops')).toBe(1000);
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.notBefore.get(['group:ops'])).toEqual(new Map());
      });

      it('a later raise with a shorter TTL does not shorten the mark’s lifetime', async () => {
        await store.notBefore.raise('idp:corp', 1000, LONG_TTL_MS);
        await store.notBefore.raise('idp:corp', 2000, 1);
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.notBefore.get(['idp:corp'])).toEqual(new Map([['idp:corp', 2000]]));
      });
    });

    describe('single-use values', () => {
      it('putIfAbsent stores a value once; a second put answers false and keeps the first', async () => {
        expect(await store.once.putIfAbsent('state', 'k', 'first', LONG_TTL_MS)).toBe(true);
        expect(await store.once.putIfAbsent('state', 'k', 'second', LONG_TTL_MS)).toBe(false);
        expect(await store.once.get('state', 'k')).toBe('first');
        expect(await store.once.get('state', 'other')).toBeNull();
      });

      it('of 50 concurrent putIfAbsent callers on two instances exactly one wins', async () => {
        const peer = peerOf(store);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 ? store : peer).once.putIfAbsent('replay', 'assertion-1', `caller-${i}`, LONG_TTL_MS),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.once.get('replay', 'assertion-1')).toBe(`caller-${results.indexOf(true)}`);
      });

      it('take returns the value once and removes it', async () => {
        await store.once.putIfAbsent('state', 'k', 'v', LONG_TTL_MS);
        expect(await store.once.take('state', 'k')).toBe('v');
        expect(await store.once.take('state', 'k')).toBeNull();
        expect(await store.once.get('state', 'k')).toBeNull();
        expect(await store.once.putIfAbsent('state', 'k', 'again', LONG_TTL_MS)).toBe(true);
      });

      it('of 20 concurrent take callers on two instances exactly one gets the value', async () => {
        const peer = peerOf(store);
        await store.once.putIfAbsent('state', 'k', 'v', LONG_TTL_MS);
        const taken = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? store : peer).once.take('state', 'k')),
        );
        expect(taken.filter((value) => value !== null)).toEqual(['v']);
      });

      it('a value expires after its TTL and can then be put again', async () => {
        await store.once.putIfAbsent('state', 'k', 'v', SHORT_TTL_MS);
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.once.get('state', 'k')).toBeNull();
        expect(await store.once.take('state', 'k')).toBeNull();
        expect(await store.once.putIfAbsent('state', 'k', 'v2', LONG_TTL_MS)).toBe(true);
      });

      it('delete removes a value; deleting a missing one is fine', async () => {
        await store.once.putIfAbsent('state', 'k', 'v', LONG_TTL_MS);
        await store.once.delete('state', 'k');
        await store.once.delete('state', 'missing');
        expect(await store.once.get('state', 'k')).toBeNull();
      });

      it('claim on a free key stores the value and answers null', async () => {
        expect(await store.once.claim('reuse', 'k', 'first', LONG_TTL_MS)).toBeNull();
        expect(await store.once.get('reuse', 'k')).toBe('first');
        expect(await store.once.putIfAbsent('reuse', 'k', 'second', LONG_TTL_MS)).toBe(false);
      });

      it('claim on a taken key answers the value there, and neither overwrites it nor extends its lifetime', async () => {
        expect(await store.once.claim('reuse', 'k', 'first', SHORT_TTL_MS)).toBeNull();
        expect(await store.once.claim('reuse', 'k', 'second', LONG_TTL_MS)).toBe('first');
        await store.once.putIfAbsent('reuse', 'put', 'stored', LONG_TTL_MS);
        expect(await store.once.claim('reuse', 'put', 'other', LONG_TTL_MS)).toBe('stored');
        expect(await store.once.get('reuse', 'k')).toBe('first');
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.once.get('reuse', 'k')).toBeNull();
        expect(await store.once.get('reuse', 'put')).toBe('stored');
      });

      it('a claimed value expires after its TTL and the key can then be claimed again', async () => {
        expect(await store.once.claim('reuse', 'k', 'v', SHORT_TTL_MS)).toBeNull();
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.once.get('reuse', 'k')).toBeNull();
        expect(await store.once.claim('reuse', 'k', 'v2', LONG_TTL_MS)).toBeNull();
        expect(await store.once.claim('reuse', 'k', 'v3', LONG_TTL_MS)).toBe('v2');
      });

      it('of 50 concurrent claim callers on two instances exactly one gets null, the others its value', async () => {
        const peer = peerOf(store);
        const answers = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 ? store : peer).once.claim('reuse', 'burst', `caller-${i}`, LONG_TTL_MS),
          ),
        );
        const winner = answers.indexOf(null);
        expect(answers.filter((answer) => answer === null)).toHaveLength(1);
        expect(answers.filter((answer) => answer === `caller-${winner}`)).toHaveLength(49);
        expect(await store.once.get('reuse', 'burst')).toBe(`caller-${winner}`);
      });

      it('claim rejects a ttlMs that is not a positive integer with RangeError and stores nothing', async () => {
        await expect(store.once.claim('reuse', 'k', 'v', 0)).rejects.toBeInstanceOf(RangeError);
        await expect(store.once.claim('reuse', 'k', 'v', 1.5)).rejects.toBeInstanceOf(RangeError);
        expect(await store.once.get('reuse', 'k')).toBeNull();
      });

      it('claim fails with StoreUnavailableError once the store is closed', async () => {
        const closing = open();
        await closing.close();
        await expect(closing.once.claim('reuse', 'k', 'v', LONG_TTL_MS)).rejects.toBeInstanceOf(
          StoreUnavailableError,
        );
      });

      it('namespaces keep key spaces apart, even when names contain separators', async () => {
        expect(await store.once.putIfAbsent('a:b', 'c', 'one', LONG_TTL_MS)).toBe(true);
        expect(await store.once.putIfAbsent('a', 'b:c', 'two', LONG_TTL_MS)).toBe(true);
        expect(await store.once.putIfAbsent('other', 'c', 'three', LONG_TTL_MS)).toBe(true);
        expect(await store.once.get('a:b', 'c')).toBe('one');
        expect(await store.once.get('a', 'b:c')).toBe('two');
      });
    });

    describe('login sessions', () => {
      it('get returns what was put, on any instance; a put again replaces it; an unknown id is null', async () => {
        const peer = peerOf(store);
        await store.loginSessions.put('l-1', '{"n":1}', LONG_TTL_MS);
        expect(await peer.loginSessions.get('l-1')).toBe('{"n":1}');
        await peer.loginSessions.put('l-1', '{"n":2}', LONG_TTL_MS);
        expect(await store.loginSessions.get('l-1')).toBe('{"n":2}');
        expect(await store.loginSessions.get('l-unknown')).toBeNull();
      });

      it('delete removes a session; deleting a missing one is fine', async () => {
        await store.loginSessions.put('l-1', 'v', LONG_TTL_MS);
        await store.loginSessions.put('l-2', 'v', LONG_TTL_MS);
        await store.loginSessions.delete('l-1');
        await store.loginSessions.delete('l-missing');
        expect(await store.loginSessions.get('l-1')).toBeNull();
        expect(await store.loginSessions.get('l-2')).toBe('v');
      });

      it('a session expires ttlMs after its last put, even when that put shortened it', async () => {
        await store.loginSessions.put('l-short', 'v', SHORT_TTL_MS);
        await store.loginSessions.put('l-shortened', 'v', LONG_TTL_MS);
        await store.loginSessions.put('l-shortened', 'v', SHORT_TTL_MS);
        await store.loginSessions.put('l-long', 'v', LONG_TTL_MS);
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.loginSessions.get('l-short')).toBeNull();
        expect(await store.loginSessions.get('l-shortened')).toBeNull();
        expect(await store.loginSessions.get('l-long')).toBe('v');
      });

      it('a put again extends the session (idle timeout)', async () => {
        await store.loginSessions.put('l-1', 'v1', PAST_SHORT_TTL_MS);
        await backend.elapse(SHORT_TTL_MS);
        await store.loginSessions.put('l-1', 'v2', PAST_SHORT_TTL_MS);
        await backend.elapse(SHORT_TTL_MS);
        // Past the first put's end, before the second's.
        expect(await store.loginSessions.get('l-1')).toBe('v2');
        await backend.elapse(PAST_SHORT_TTL_MS);
        expect(await store.loginSessions.get('l-1')).toBeNull();
      });

      it('ids are compared exactly: no id reaches another’s session', async () => {
        for (const [i, id] of LOOKALIKE_KEYS.entries())
          await store.loginSessions.put(id, `v${i}`, LONG_TTL_MS);
        for (const [i, id] of LOOKALIKE_KEYS.entries())
          expect(await store.loginSessions.get(id)).toBe(`v${i}`);
        expect(await store.loginSessions.get('a')).toBeNull();
      });

      it('put rejects a ttlMs that is not a positive integer with RangeError', async () => {
        await expect(store.loginSessions.put('l-1', 'v', 0)).rejects.toBeInstanceOf(RangeError);
        await expect(store.loginSessions.put('l-1', 'v', 1.5)).rejects.toBeInstanceOf(RangeError);
        expect(await store.loginSessions.get('l-1')).toBeNull();
      });
    });

    describe('rate counters', () => {
      const increment = (key: string, windowMs: number, on: Store = store) =>
        on.rateCounters.increment(key, windowMs);

      it('increment counts hits per key; the window ends windowMs after the first hit', async () => {
        const first = await increment('ip:a', LONG_TTL_MS);
        expect(first.count).toBe(1);
        expectAbout(first.resetAt, now() + LONG_TTL_MS);
        expect((await increment('ip:a', LONG_TTL_MS)).count).toBe(2);
        expect((await increment('ip:b', LONG_TTL_MS)).count).toBe(1);
        expect((await increment('ip:a', LONG_TTL_MS, peerOf(store))).count).toBe(3);
      });

      it('resetAt stays fixed within a window, whatever windowMs later hits pass', async () => {
        const first = await increment('ip:a', LONG_TTL_MS);
        await backend.elapse(SHORT_TTL_MS);
        const second = await increment('ip:a', LONG_TTL_MS);
        const third = await increment('ip:a', SHORT_TTL_MS);
        const fourth = await increment('ip:a', 2 * LONG_TTL_MS);
        expect([second.count, third.count, fourth.count]).toEqual([2, 3, 4]);
        for (const later of [second, third, fourth]) expectAbout(later.resetAt, first.resetAt);
      });

      it('once the window is over the count starts again, in a new window', async () => {
        await increment('ip:a', SHORT_TTL_MS);
        await increment('ip:a', SHORT_TTL_MS);
        await backend.elapse(PAST_SHORT_TTL_MS);
        const next = await increment('ip:a', SHORT_TTL_MS);
        expect(next.count).toBe(1);
        expectAbout(next.resetAt, now() + SHORT_TTL_MS);
      });

      it('50 concurrent increments on two instances count exactly 50, in one window', async () => {
        const peer = peerOf(store);
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => increment('ip:a', LONG_TTL_MS, i % 2 ? store : peer)),
        );
        expect(results.map((result) => result.count).sort((x, y) => x - y)).toEqual(
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        for (const result of results) expectAbout(result.resetAt, defined(results[0]).resetAt);
        expect((await increment('ip:a', LONG_TTL_MS)).count).toBe(51);
      });

      it('decrement takes one hit back, never below zero, and keeps the window', async () => {
        const first = await increment('ip:a', LONG_TTL_MS);
        await increment('ip:a', LONG_TTL_MS);
        await store.rateCounters.decrement('ip:a');
        expect((await increment('ip:a', LONG_TTL_MS)).count).toBe(2);
        for (let i = 0; i < 3; i++) await store.rateCounters.decrement('ip:a');
        await backend.elapse(SHORT_TTL_MS);
        const next = await increment('ip:a', LONG_TTL_MS);
        expect(next.count).toBe(1);
        expectAbout(next.resetAt, first.resetAt);
      });

      it('decrement without a live window does nothing', async () => {
        await store.rateCounters.decrement('ip:never');
        await increment('ip:gone', SHORT_TTL_MS);
        await backend.elapse(PAST_SHORT_TTL_MS);
        await store.rateCounters.decrement('ip:gone');
        for (const key of ['ip:never', 'ip:gone']) {
          const next = await increment(key, LONG_TTL_MS);
          expect(next.count).toBe(1);
          expectAbout(next.resetAt, now() + LONG_TTL_MS);
        }
      });

      it('reset ends the window: the next hit counts 1 in a new window; other keys keep theirs', async () => {
        for (let i = 0; i < 3; i++) await increment('ip:a', LONG_TTL_MS);
        await increment('ip:b', LONG_TTL_MS);
        await store.rateCounters.reset('ip:a');
        await store.rateCounters.reset('ip:missing');
        const next = await increment('ip:a', SHORT_TTL_MS);
        expect(next.count).toBe(1);
        expectAbout(next.resetAt, now() + SHORT_TTL_MS);
        expect((await increment('ip:b', LONG_TTL_MS)).count).toBe(2);
      });

      it('keys are compared exactly: no key counts another’s hits', async () => {
        for (const key of LOOKALIKE_KEYS) expect((await increment(key, LONG_TTL_MS)).count).toBe(1);
        expect((await increment('a', LONG_TTL_MS)).count).toBe(1);
      });

      it('increment rejects a windowMs that is not a positive integer with RangeError', async () => {
        await expect(increment('ip:a', 0)).rejects.toBeInstanceOf(RangeError);
        await expect(increment('ip:a', 1.5)).rejects.toBeInstanceOf(RangeError);
        expect((await increment('ip:a', LONG_TTL_MS)).count).toBe(1);
      });
    });

    describe('config records', () => {
      it('put at version 0 creates the record; each put at the current version increments it', async () => {
        expect(await store.config.get('roles')).toBeNull();
        expect(await store.config.put('roles', 'v1', 0)).toBe(1);
        expect(await store.config.put('roles', 'v2', 1)).toBe(2);
        expect(await store.config.get('roles')).toEqual({ value: 'v2', version: 2 });
        expect(await store.config.get('mappings')).toBeNull();
      });

      it('put at a stale version answers null and changes nothing', async () => {
        await store.config.put('roles', 'v1', 0);
        expect(await store.config.put('roles', 'stale', 0)).toBeNull();
        expect(await store.config.put('roles', 'ahead', 5)).toBeNull();
        expect(await store.config.put('mappings', 'x', 3)).toBeNull();
        expect(await store.config.get('roles')).toEqual({ value: 'v1', version: 1 });
        expect(await store.config.get('mappings')).toBeNull();
      });

      it('of two concurrent puts at the same version from two instances exactly one wins', async () => {
        const peer = peerOf(store);
        await store.config.put('roles', 'v1', 0);
        const results = await Promise.all([
          store.config.put('roles', 'mine', 1),
          peer.config.put('roles', 'theirs', 1),
        ]);
        expect(results.filter((version) => version !== null)).toEqual([2]);
        const winner = results[0] === 2 ? 'mine' : 'theirs';
        expect(await peer.config.get('roles')).toEqual({ value: winner, version: 2 });
      });

      it('put rejects a negative or fractional expected version with ValidationError', async () => {
        await expect(store.config.put('roles', 'x', -1)).rejects.toBeInstanceOf(ValidationError);
        await expect(store.config.put('roles', 'x', 1.5)).rejects.toBeInstanceOf(ValidationError);
      });
    });

    describe('audit', () => {
      /** A seal that records each call; the entry names its predecessor's hash, as a real one would. */
      const sealer = (label: string, calls: string[] = []) => {
        return (prevHash: string) => {
          calls.push(prevHash);
          const entry = JSON.stringify({ label, prev: prevHash });
          return { entry, hash: createHash('sha256').update(prevHash).update(entry).digest('hex') };
        };
      };
      const expectOneChain = (entries: AuditEntry[]) => {
        entries.forEach((entry, i) => {
          const { prev } = JSON.parse(entry.entry) as { prev: string };
          expect(prev).toBe(i === 0 ? '' : defined(entries[i - 1]).hash);
          expect(entry.hash).toBe(createHash('sha256').update(prev).update(entry.entry).digest('hex'));
        });
      };

      it('append passes the previous entry’s hash to seal and read returns entries oldest first', async () => {
        const calls: string[] = [];
        const ids: string[] = [];
        for (const label of ['one', 'two', 'three']) ids.push(await store.audit.append(sealer(label, calls)));
        const entries = await store.audit.read({ limit: 10 });
        expect(entries.map((entry) => entry.id)).toEqual(ids);
        expect(entries.map((entry) => JSON.parse(entry.entry).label)).toEqual(['one', 'two', 'three']);
        expect(calls).toEqual(['', defined(entries[0]).hash, defined(entries[1]).hash]);
        expectOneChain(entries);
      });

      it('concurrent appends from two instances never fork the chain; each resolves with its own entry’s id, in chain order', async () => {
        const peer = peerOf(store);
        const instances = [store, peer];
        const labels = Array.from({ length: 300 }, (_, i) => `e${i}`);
        /** Per instance, the ids its appends resolved with, in the order they resolved. */
        const resolved: string[][] = instances.map(() => []);
        const ids = await Promise.all(
          labels.map(async (label, i) => {
            const id = await defined(instances[i % 2]).audit.append(sealer(label));
            defined(resolved[i % 2]).push(id);
            return id;
          }),
        );
        const entries = await store.audit.read({ limit: AUDIT_MAX_LENGTH });
        expect(entries).toHaveLength(labels.length);
        expectOneChain(entries);
        const labelOf = new Map(entries.map((entry) => [entry.id, JSON.parse(entry.entry).label as string]));
        expect(ids.map((id) => labelOf.get(id))).toEqual(labels);
        for (const ofInstance of resolved) {
          const own = new Set(ofInstance);
          expect(ofInstance).toEqual(entries.map((entry) => entry.id).filter((id) => own.has(id)));
        }
      });

      it('an append whose seal throws is rejected alone; the appends around it still make one chain', async () => {
        const failure = new Error('cannot serialise this event');
        const appends = Array.from({ length: 10 }, (_, i) =>
          store.audit.append(
            i === 4
              ? () => {
                  throw failure;
                }
              : sealer(`e${i}`),
          ),
        );
        const settled = await Promise.allSettled(appends);
        expect(settled.map((outcome) => outcome.status)).toEqual(
          Array.from({ length: 10 }, (_, i) => (i === 4 ? 'rejected' : 'fulfilled')),
        );
        expect(settled[4]).toEqual({ status: 'rejected', reason: failure });
        const entries = await store.audit.read({ limit: 100 });
        expect(entries.map((entry) => JSON.parse(entry.entry).label)).toEqual([
          'e0',
          'e1',
          'e2',
          'e3',
          'e5',
          'e6',
          'e7',
          'e8',
          'e9',
        ]);
        expectOneChain(entries);
      });

      it('read with after returns only later entries, so a reader can page through the log', async () => {
        for (let i = 0; i < 7; i++) await store.audit.append(sealer(`e${i}`));
        const all = await store.audit.read({ limit: 100 });
        const paged: AuditEntry[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.audit.read({ limit: 3, ...(after === undefined ? {} : { after }) });
          if (page.length === 0) break;
          paged.push(...page);
          after = defined(page.at(-1)).id;
        }
        expect(paged).toEqual(all);
        expect(await store.audit.read({ after: defined(all[4]).id, limit: 100 })).toEqual(all.slice(5));
        expect(await store.audit.read({ after: defined(all[6]).id, limit: 100 })).toEqual([]);
      });

      it('read rejects a malformed after cursor with ValidationError', async () => {
        await expect(store.audit.read({ after: 'nope', limit: 10 })).rejects.toBeInstanceOf(ValidationError);
      });

      it('the log keeps about auditMaxLength newest entries, still one chain', async () => {
        const total = AUDIT_MAX_LENGTH + 300;
        for (let i = 0; i < total; i++) await store.audit.append(sealer(`e${i}`));
        const kept = await store.audit.read({ limit: 5000 });
        expect(kept.length).toBeGreaterThanOrEqual(AUDIT_MAX_LENGTH);
        expect(kept.length).toBeLessThan(total);
        expect(JSON.parse(defined(kept.at(-1)).entry).label).toBe(`e${total - 1}`);
        kept.slice(1).forEach((entry, i) => {
          expect(JSON.parse(entry.entry).prev).toBe(defined(kept[i]).hash);
        });
      });
    });

    describe('pub/sub', () => {
      const inbox = () => {
        const messages: string[] = [];
        return { messages, onMessage: (message: string) => void messages.push(message) };
      };
      const eventually = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 5 });

      it('a subscriber receives, in order, what another instance publishes on its channel', async () => {
        const peer = peerOf(store);
        const received = inbox();
        await store.pubsub.subscribe('revocations', received.onMessage);
        for (const message of ['m1', 'm2', 'm3']) await peer.pubsub.publish('revocations', message);
        await eventually(() => expect(received.messages).toEqual(['m1', 'm2', 'm3']));
      });

      it('messages reach only the subscribers of their channel; each subscription gets every message', async () => {
        const first = inbox();
        const second = inbox();
        const other = inbox();
        await store.pubsub.subscribe('a', first.onMessage);
        await store.pubsub.subscribe('a', second.onMessage);
        await store.pubsub.subscribe('b', other.onMessage);
        await store.pubsub.publish('a', 'for-a');
        await store.pubsub.publish('b', 'for-b');
        await eventually(() => expect(other.messages).toEqual(['for-b']));
        await eventually(() => expect(first.messages).toEqual(['for-a']));
        expect(second.messages).toEqual(['for-a']);
      });

      it('unsubscribe stops delivery to that subscription only', async () => {
        const peer = peerOf(store);
        const leaving = inbox();
        const staying = inbox();
        const unsubscribe = await store.pubsub.subscribe('revocations', leaving.onMessage);
        await store.pubsub.subscribe('revocations', staying.onMessage);
        await peer.pubsub.publish('revocations', 'before');
        await eventually(() => expect(leaving.messages).toEqual(['before']));
        await unsubscribe();
        await unsubscribe();
        await peer.pubsub.publish('revocations', 'after');
        // `staying` got "after", so "after" has been handed out by now.
        await eventually(() => expect(staying.messages).toEqual(['before', 'after']));
        expect(leaving.messages).toEqual(['before']);
      });

      it('after the last subscription of a channel ends, nothing is delivered on it', async () => {
        const gone = inbox();
        const marker = inbox();
        const unsubscribe = await store.pubsub.subscribe('a', gone.onMessage);
        await store.pubsub.subscribe('marker', marker.onMessage);
        await unsubscribe();
        await store.pubsub.publish('a', 'lost');
        await store.pubsub.publish('marker', 'done');
        await eventually(() => expect(marker.messages).toEqual(['done']));
        expect(gone.messages).toEqual([]);
      });
    });

    describe('lifecycle', () => {
      it('ping resolves while the store is reachable', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('after close every call fails with StoreUnavailableError at once, and close again resolves', async () => {
        const closing = open();
        await closing.ping();
        await closing.pubsub.subscribe('a', () => {});
        const started = performance.now();
        await closing.close();
        const calls = await Promise.allSettled([
          closing.ping(),
          closing.sessions.get('s-1'),
          closing.once.putIfAbsent('state', 'k', 'v', LONG_TTL_MS),
          closing.loginSessions.get('l-1'),
          closing.loginSessions.put('l-1', 'v', LONG_TTL_MS),
          closing.rateCounters.increment('ip:a', LONG_TTL_MS),
          closing.notBefore.get(['global']),
          closing.config.get('roles'),
          closing.audit.read({ limit: 1 }),
          closing.pubsub.publish('a', 'm'),
          closing.pubsub.subscribe('a', () => {}),
        ]);
        for (const call of calls) {
          expect(call.status).toBe('rejected');
          if (call.status === 'rejected') expect(call.reason).toBeInstanceOf(StoreUnavailableError);
        }
        await closing.close();
        expect(performance.now() - started).toBeLessThan(1000);
      });
    });
  });
}

function defined<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}
