import { createHash } from 'node:crypto';
import type { AuditEntry } from '../store/types.js';
import type { AuditEvent } from './events.js';

/**
 * The hash chain. Each stored entry is the canonical JSON of `{ v, prev, event }` and its hash is
 *
 *     hash = hex(sha256(prev + '\n' + entry))
 *
 * where `prev` is the hash of the entry before it ('' for the first entry ever written).
 *
 * Why `prev` is inside the entry: the store keeps only `{ id, entry, hash }`, and the stream is bounded
 * (`MAXLEN ~`), so after trimming the oldest retained entry's predecessor is gone. Carrying `prev` lets a
 * verifier start from any entry (the first retained one, or the first after an `--after` cursor) and still
 * check that entry's own hash; every later entry must then name its predecessor's hash.
 *
 * What this detects: an edited entry (its hash no longer matches; 'altered'), a deleted entry (the next
 * entry names a hash that is not its predecessor's; 'missing'), a restarted chain (an entry claiming to be
 * the first while a predecessor exists; 'broken link').
 *
 * What it cannot detect on its own (see the notes on AuditLog): the hash is not keyed, so someone who can
 * write to Redis can rewrite an entry and re-hash everything after it, and deleting the newest entries
 * leaves a shorter but valid chain. Compare the head with an external copy (the log lines AuditLog
 * writes carry each entry's id and hash) to catch those.
 */

/** Version of the sealed-entry format; bump it if the serialisation or hash input ever changes. */
export const AUDIT_ENTRY_VERSION = 1;

interface SealedEntry {
  v: typeof AUDIT_ENTRY_VERSION;
  prev: string;
  event: AuditEvent;
}

/**
 * JSON with object keys sorted at every depth and no whitespace, so one value has exactly one
 * serialisation. Object members whose value is undefined are left out (as JSON.stringify does); the input
 * must otherwise be plain JSON data.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) sorted[key] = sortKeys(item);
  }
  return sorted;
}

export function auditHash(prev: string, entry: string): string {
  return createHash('sha256').update(`${prev}\n${entry}`).digest('hex');
}

/**
 * The `seal` function for `AuditStore.append`: pure in `prev`, because the store may call it again with a
 * newer head when another writer appended first.
 */
export function sealAuditEvent(event: AuditEvent): (prev: string) => { entry: string; hash: string } {
  return (prev) => {
    const sealed: SealedEntry = { v: AUDIT_ENTRY_VERSION, prev, event };
    const entry = canonicalJson(sealed);
    return { entry, hash: auditHash(prev, entry) };
  };
}

/** The event and link of a stored entry, or undefined when the entry is not a sealed entry of ours. */
export function openAuditEntry(entry: string): { prev: string; event: AuditEvent } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(entry);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { v, prev, event } = parsed as Partial<Record<keyof SealedEntry, unknown>>;
  if (v !== AUDIT_ENTRY_VERSION || typeof prev !== 'string') return undefined;
  if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string')
    return undefined;
  return { prev, event: event as AuditEvent };
}

/**
 * - `altered`: the entry is not what was sealed (its hash does not match its content, or it does not parse).
 * - `missing`: the entry names a predecessor other than the entry before it (or other than `startHash`):
 *   entries in between were deleted, or the one before was replaced by a re-sealed forgery.
 * - `broken link`: the entry claims to start a new chain (`prev` '') although a predecessor was expected:
 *   the head was lost or reset and the chain restarted.
 */
export type AuditChainProblem = 'altered' | 'missing' | 'broken link';

export type AuditChainVerification =
  | { ok: true; count: number; head: string }
  | { ok: false; at: string; problem: AuditChainProblem; detail: string; count: number };

export interface VerifyAuditChainOptions {
  /**
   * The hash the first entry must link to: '' to require the chain to begin at its very first entry,
   * or the head of an earlier export. Absent: the first entry's own `prev` is taken on trust (the stream is
   * bounded, so older entries may have been trimmed away).
   */
  startHash?: string;
}

/**
 * Verifies entries one at a time, for streaming over pages. After a problem it re-anchors on the
 * entry that had it (its stored hash), so later problems are reported on their own instead of cascading.
 */
export class AuditChainVerifier {
  /** Hash the next entry must name as `prev`; undefined until the first entry, unless a start was given. */
  private expected: string | undefined;
  private verified = 0;
  private firstProblem: Extract<AuditChainVerification, { ok: false }> | undefined;

  constructor(options: VerifyAuditChainOptions = {}) {
    this.expected = options.startHash;
  }

  /** Checks the next entry (entries must come oldest first, without gaps in the reading). */
  check(stored: AuditEntry): { problem: AuditChainProblem; detail: string } | undefined {
    const found = this.problemOf(stored);
    this.expected = stored.hash;
    if (found === undefined) {
      this.verified += 1;
      return undefined;
    }
    this.firstProblem ??= { ok: false, at: stored.id, ...found, count: this.verified };
    return found;
  }

  /** The first problem seen, else the count of entries and the hash of the last one (the head). */
  result(): AuditChainVerification {
    return this.firstProblem ?? { ok: true, count: this.verified, head: this.expected ?? '' };
  }

  private problemOf(stored: AuditEntry): { problem: AuditChainProblem; detail: string } | undefined {
    const opened = openAuditEntry(stored.entry);
    if (opened === undefined) return { problem: 'altered', detail: 'the entry is not a sealed audit entry' };
    if (auditHash(opened.prev, stored.entry) !== stored.hash)
      return { problem: 'altered', detail: 'the entry does not match its hash' };
    if (this.expected === undefined || opened.prev === this.expected) return undefined;
    if (opened.prev === '')
      return {
        problem: 'broken link',
        detail: `the entry starts a new chain, but should follow ${this.expected}`,
      };
    return {
      problem: 'missing',
      detail: `the entry follows ${opened.prev}, not ${this.expected || 'the start of the chain'}: entries before it are missing`,
    };
  }
}

/** Verifies a run of stored entries, oldest first; reports the first problem. */
export function verifyAuditChain(
  entries: readonly AuditEntry[],
  options: VerifyAuditChainOptions = {},
): AuditChainVerification {
  const verifier = new AuditChainVerifier(options);
  for (const entry of entries) if (verifier.check(entry) !== undefined) break;
  return verifier.result();
}
