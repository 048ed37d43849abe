import { BoundedMap } from '../bounded-map.js';
import type { Clock } from '../clock.js';
import type { SessionRecord, Store } from '../store/types.js';

/**
 * Validity is an allow-list: a credential is good only while its session record exists, is not revoked,
 * has not expired, and was issued at or after every not-before mark that covers it. Anything the store
 * cannot answer rejects (StoreUnavailableError) instead of counting as valid.
 */

export type RevocationScope =
  | { kind: 'global' }
  | { kind: 'idp'; idp: string }
  | { kind: 'principal'; principal: string }
  | { kind: 'role'; role: string }
  | { kind: 'group'; group: string };

/** The string form used as a not-before key: `global`, `idp:<id>`, `principal:<id>`, `role:<name>`, `group:<name>`. */
export function scopeKey(scope: RevocationScope): string {
  switch (scope.kind) {
    case 'global':
      return 'global';
    case 'idp':
      return `idp:${scope.idp}`;
    case 'principal':
      return `principal:${scope.principal}`;
    case 'role':
      return `role:${scope.role}`;
    case 'group':
      return `group:${scope.group}`;
  }
}

/** Every not-before scope that covers a session. */
export function scopesCovering(
  record: Pick<SessionRecord, 'idp' | 'principal' | 'role' | 'groups'>,
): string[] {
  return [
    scopeKey({ kind: 'global' }),
    scopeKey({ kind: 'idp', idp: record.idp }),
    scopeKey({ kind: 'principal', principal: record.principal }),
    scopeKey({ kind: 'role', role: record.role }),
    ...record.groups.map((group) => scopeKey({ kind: 'group', group })),
  ];
}

export type Liveness = { live: true } | { live: false; reason: string };

/** Not-before marks read from the store: the scopes asked, and the marks found among them. */
export interface MarksRead {
  scopes: readonly string[];
  marks: ReadonlyMap<string, number>;
}

export interface LivenessOptions {
  /**
   * How long (ms, by the injected clock) a positive answer about a session's not-before marks may be
   * reused without asking the store again. 0 (the default) asks the store on every check.
   */
  maxStalenessMs?: number;
  /** Bound on the sessions held in the cache; the oldest entry is dropped when it is full. */
  maxEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/** A positive answer: the session was live against its scopes' marks as read at `checkedAt`. */
interface CachedAnswer {
  /** The scopes the answer was computed for; an entry is only used for a record with the same scopes. */
  scopes: readonly string[];
  issuedAt: number;
  /** Clock time taken *before* the store was asked, so the answer's age is never understated. */
  checkedAt: number;
}

/**
 * Decides whether a session is still live.
 *
 * Cache contract (bounded staleness): with `maxStalenessMs > 0`, a positive answer about the not-before
 * marks covering a session may be served from an in-process cache, keyed by sid, for less than
 * `maxStalenessMs`. Everything on the record itself (revokedAt, expiresAt) is checked on every call from
 * the record the caller passes in (callers read it from the store each time). Negative answers are never
 * cached, and a store that cannot be asked rejects (nothing is cached as live from a failed read).
 *
 * `invalidate` drops cached answers; RevocationService calls it synchronously after its store write and
 * before it returns, and the revocation listener calls it for revocations made on other instances. A check
 * that was already asking the store when an invalidation happened does not put its (possibly pre-revocation)
 * answer into the cache: a generation counter is compared before storing.
 */
export class LivenessChecker {
  private readonly maxStalenessMs: number;
  private readonly maxEntries: number;
  private readonly cache: BoundedMap<CachedAnswer>;
  /** Bumped by every invalidation; an answer read under an older generation is not cached. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: LivenessOptions = {},
  ) {
    this.maxStalenessMs = options.maxStalenessMs ?? 0;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isSafeInteger(this.maxStalenessMs) || this.maxStalenessMs < 0)
      throw new RangeError(`maxStalenessMs must be a non-negative integer, got ${this.maxStalenessMs}`);
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`maxEntries must be a positive integer, got ${this.maxEntries}`);
    this.cache = new BoundedMap(this.maxEntries);
  }

  /**
   * For verification: the answer may come from the cache (see the class comment). Handing out an existing
   * session again (credential reuse) uses `checkAgainst` instead, where a stale "live" would give out
   * revoked credentials.
   */
  async check(record: SessionRecord): Promise<Liveness> {
    const now = this.clock.now();
    const ended = this.ended(record, now);
    if (ended !== undefined) return ended;
    const scopes = scopesCovering(record);
    if (this.cachedLive(record, scopes, now)) return { live: true };

    const generation = this.generation;
    const marks = await this.store.notBefore.get(scopes);
    const revoked = revokedBy(record, scopes, [marks]);
    if (revoked !== undefined) return this.dead(record.sid, revoked);
    if (this.maxStalenessMs > 0 && generation === this.generation) {
      this.cache.set(record.sid, { scopes, issuedAt: record.issuedAt, checkedAt: now });
    }
    return { live: true };
  }

  /**
   * For credential reuse: never from the cache, against marks the caller has just read from the store
   * (with the record, in one round trip). Scopes of the record that were not asked are asked now. Nothing is cached: the
   * caller's read is not covered by the invalidation bookkeeping.
   */
  async checkAgainst(record: SessionRecord, read: MarksRead): Promise<Liveness> {
    const ended = this.ended(record, this.clock.now());
    if (ended !== undefined) return ended;
    const scopes = scopesCovering(record);
    const missing = scopes.filter((scope) => !read.scopes.includes(scope));
    const more = missing.length === 0 ? new Map<string, number>() : await this.store.notBefore.get(missing);
    // Only the record's own scopes count: a mark on a scope the caller asked about but the record is
    // not under (a group the user joined since) says nothing about it.
    const revoked = revokedBy(record, scopes, [read.marks, more]);
    return revoked === undefined ? { live: true } : this.dead(record.sid, revoked);
  }

  /**
   * Drops cached answers a revocation may affect: `session:<sid>` drops that session, a not-before scope
   * key drops the sessions it covers, `global` or no key drops everything. Synchronous, so a caller that
   * has written a revocation to the store and then invalidates knows that no check starting afterwards
   * on this instance is answered from before the revocation.
   */
  invalidate(key?: string): void {
    this.generation++;
    if (key === undefined || key === scopeKey({ kind: 'global' })) {
      this.cache.clear();
      return;
    }
    if (key.startsWith(SESSION_KEY_PREFIX)) {
      this.cache.delete(key.slice(SESSION_KEY_PREFIX.length));
      return;
    }
    for (const [sid, answer] of this.cache.entries()) {
      if (answer.scopes.includes(key)) this.cache.delete(sid);
    }
  }

  /** How many sessions have a cached answer (for metrics and tests). */
  get cachedSessions(): number {
    return this.cache.size;
  }

  private cachedLive(record: SessionRecord, scopes: readonly string[], now: number): boolean {
    if (this.maxStalenessMs === 0) return false;
    const answer = this.cache.get(record.sid);
    if (answer === undefined) return false;
    const fresh =
      now >= answer.checkedAt && // a clock that went back makes the age unknown
      now - answer.checkedAt < this.maxStalenessMs &&
      answer.issuedAt === record.issuedAt &&
      sameScopes(answer.scopes, scopes);
    if (!fresh) this.cache.delete(record.sid);
    return fresh;
  }

  /** Dead by the record itself: revoked one by one, or expired. */
  private ended(record: SessionRecord, now: number): Liveness | undefined {
    if (record.revokedAt !== undefined) return this.dead(record.sid, 'session revoked');
    if (record.expiresAt <= now) return this.dead(record.sid, 'session expired');
    return undefined;
  }

  private dead(sid: string, reason: string): Liveness {
    if (this.maxStalenessMs > 0) this.cache.delete(sid);
    return { live: false, reason };
  }
}

/** The key of a one-session revocation, as published and passed to `invalidate`: `session:<sid>`. */
export const SESSION_KEY_PREFIX = 'session:';

export function sessionKey(sid: string): string {
  return `${SESSION_KEY_PREFIX}${sid}`;
}

/** Why the record is revoked: a mark on one of `scopes` newer than the record, looked up in `marks`. */
function revokedBy(
  record: SessionRecord,
  scopes: readonly string[],
  marks: readonly ReadonlyMap<string, number>[],
): string | undefined {
  for (const scope of scopes) {
    for (const found of marks) {
      const notBefore = found.get(scope);
      if (notBefore !== undefined && record.issuedAt < notBefore) return `revoked (${scope})`;
    }
  }
  return undefined;
}

function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((scope, i) => scope === b[i]);
}
