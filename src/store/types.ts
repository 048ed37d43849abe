/**
 * The store contract. One interface, two implementations: `store/redis` (production, shared by every
 * instance) and `store/memory` (single process, dev mode only). Both pass `test/store/conformance.ts`.
 *
 * Contract rules that every implementation keeps:
 * - Every method either completes its write before resolving or rejects; a caller that got a resolved
 *   promise may hand out whatever depends on that write.
 * - A backend that cannot be reached rejects with StoreUnavailableError; nothing is reported as
 *   present or absent when the store could not be asked (callers fail closed).
 * - Times are milliseconds since the epoch; TTLs are milliseconds.
 */

/** One issued credential. Holds no secret: the secret access key is re-derived from `kid` + `akid`. */
export interface SessionRecord {
  sid: string;
  akid: string;
  /** Key set that signed the session token and derives the secret. */
  kid: string;
  /** Issuer-scoped principal id (see `principalId`). */
  principal: string;
  idp: string;
  issuer: string;
  subject: string;
  username: string;
  groups: string[];
  role: string;
  sessionName: string;
  /** The effective policy as JSON text (role policy rendered for this identity). */
  policy: string;
  /** The optional session policy as JSON text; the effective permissions are the intersection. */
  sessionPolicy?: string;
  /** Hash of policy + session policy; carried in the session token as `ph`. */
  policyHash: string;
  issuedAt: number;
  expiresAt: number;
  /** Set when the session was revoked one by one; the record stays for listing until it expires. */
  revokedAt?: number;
}

/**
 * What a listing selects. `all` and `principal` are indexes kept at mint time; `role`, `group` and `idp`
 * filter the `all` index as they walk it (see SessionStore.list), so no listing scans the key space.
 */
export type SessionIndex =
  | { by: 'all' }
  | { by: 'principal'; value: string }
  | { by: 'role'; value: string }
  | { by: 'group'; value: string }
  | { by: 'idp'; value: string };

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Absent on the last page. */
  cursor?: string;
}

export interface SessionStore {
  /** Stores the record and adds it to its indexes; the record expires at `expiresAt`. */
  create(record: SessionRecord): Promise<void>;
  get(sid: string): Promise<SessionRecord | null>;
  /** Marks one session revoked. Returns false when no such session exists. */
  revoke(sid: string, at: number): Promise<boolean>;
  /**
   * Newest first (by issuedAt, then sid), only sessions that still exist. A page examines a bounded
   * number of sessions (2 000, or `limit + 1` if that is more; see session-listing.ts): a page
   * filtered by role, group or idp whose matches are sparse, or a page that meets many expired sessions,
   * may come back with fewer than `limit` items, even none, and still a cursor. Only a page without a
   * cursor is the last; follow the cursor until there is none.
   */
  list(index: SessionIndex, options: { limit: number; cursor?: string }): Promise<Page<SessionRecord>>;
}

/**
 * Not-before marks: a credential of a covered scope issued before the mark is invalid. Scopes are
 * strings such as `global`, `idp:corp`, `principal:<id>`, `role:<name>`, `group:<name>`.
 */
export interface NotBeforeStore {
  /** Raises the mark of `scope` to `at` (never lowers it) and keeps it for `ttlMs`. */
  raise(scope: string, at: number, ttlMs: number): Promise<void>;
  /** The marks of the given scopes that exist; absent scopes are left out. One round trip. */
  get(scopes: readonly string[]): Promise<Map<string, number>>;
}

/**
 * Single-use values with a lifetime: OIDC state, SAML request ids, assertion-id replay cache, credential
 * reuse pointers. Namespaces keep their key spaces apart.
 */
export interface OnceStore {
  /** Stores `value` unless the key exists. True when this call stored it (exactly one concurrent caller wins). */
  putIfAbsent(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Stores `value` unless the key exists, atomically. Null when this call stored it (exactly one concurrent
   * caller gets null); otherwise the value already there, left as it was: not overwritten, its lifetime
   * not extended.
   */
  claim(namespace: string, key: string, value: string, ttlMs: number): Promise<string | null>;
  get(namespace: string, key: string): Promise<string | null>;
  /** Reads and deletes atomically: of concurrent callers at most one gets the value. */
  take(namespace: string, key: string): Promise<string | null>;
  delete(namespace: string, key: string): Promise<void>;
}

/** Server-side browser login sessions; the cookie carries only the id. Values are opaque serialised JSON. */
export interface LoginSessionStore {
  /** Creates or replaces the value; it expires `ttlMs` from now (a put again extends it: idle timeout). */
  put(id: string, value: string, ttlMs: number): Promise<void>;
  get(id: string): Promise<string | null>;
  delete(id: string): Promise<void>;
}

/** Fixed-window hit counters shared by every instance, for rate limits. */
export interface RateCounterStore {
  /** Adds one hit to `key`; the window starts at the first hit and lasts `windowMs`. Atomic across instances. */
  increment(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  /** Takes one hit back (never below zero; no-op when the window is gone). */
  decrement(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

/** A versioned document (roles, mappings, ...): optimistic concurrency through `version` (the ETag). */
export interface ConfigRecord {
  value: string;
  version: number;
}

export interface ConfigStore {
  get(name: string): Promise<ConfigRecord | null>;
  /**
   * Writes `value` if the stored version equals `expectedVersion` (0 = must not exist yet).
   * Returns the new version, or null when the expectation failed (the caller answers 412).
   */
  put(name: string, value: string, expectedVersion: number): Promise<number | null>;
}

export interface AuditEntry {
  /** Store-assigned, increasing; usable as a cursor. */
  id: string;
  /** The serialised event. */
  entry: string;
  /** The hash that links this entry to the previous one. */
  hash: string;
}

export interface AuditStore {
  /**
   * Appends an entry linked to the current head. `seal(prevHash)` serialises the event and computes its
   * hash from the previous one ('' for the first); if another writer appended in between, the store calls
   * `seal` again with the new head, so the chain never forks. The log is bounded to its configured length.
   */
  append(seal: (prevHash: string) => { entry: string; hash: string }): Promise<string>;
  /** Oldest first, entries with an id greater than `after`. */
  read(options: { after?: string; limit: number }): Promise<AuditEntry[]>;
}

export interface PubSub {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
}

export interface Store {
  readonly kind: 'redis' | 'memory';
  readonly sessions: SessionStore;
  readonly notBefore: NotBeforeStore;
  readonly once: OnceStore;
  readonly loginSessions: LoginSessionStore;
  readonly rateCounters: RateCounterStore;
  readonly config: ConfigStore;
  readonly audit: AuditStore;
  readonly pubsub: PubSub;
  /** Rejects with StoreUnavailableError when the backend cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
