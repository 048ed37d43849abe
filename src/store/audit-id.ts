import { ValidationError } from '../errors.js';

/**
 * Audit entry ids have the form of Redis stream ids, `<ms>-<seq>`, and order numerically. The memory
 * store issues ids of the same form, so an id means the same to either store and to any cursor a client
 * holds.
 */
const auditIdPattern = /^(\d{1,15})-(\d{1,15})$/;

/** Ids come back from clients as `after` cursors, so a malformed one is a ValidationError. */
export function parseAuditId(id: string): { ms: number; seq: number } {
  const match = auditIdPattern.exec(id);
  if (!match?.[1] || !match[2]) throw new ValidationError('Invalid audit cursor');
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

export function compareAuditIds(a: string, b: string): number {
  const x = parseAuditId(a);
  const y = parseAuditId(b);
  return x.ms - y.ms || x.seq - y.seq;
}

/** The id after `last` at time `now`: like XADD `*`, it increases even when the clock stands still or steps back. */
export function nextAuditId(last: string | undefined, now: number): string {
  if (last === undefined) return `${now}-0`;
  const previous = parseAuditId(last);
  return now > previous.ms ? `${now}-0` : `${previous.ms}-${previous.seq + 1}`;
}
