import { ValidationError } from '../errors.js';

/**
 * Session listings are ordered newest first by (issuedAt, sid), both descending; sids compare as bytes,
 * as Redis orders sorted-set members with equal scores. A cursor is the position of the last session
 * returned, not an offset, so sessions that appear or expire between pages never shift a page.
 */
export interface SessionPosition {
  issuedAt: number;
  sid: string;
}

/** Negative when `a` is listed before `b`. */
export function newestFirst(a: SessionPosition, b: SessionPosition): number {
  if (a.issuedAt !== b.issuedAt) return b.issuedAt - a.issuedAt;
  return Buffer.compare(Buffer.from(b.sid), Buffer.from(a.sid));
}

export function encodeSessionCursor(position: SessionPosition): string {
  return Buffer.from(JSON.stringify([position.issuedAt, position.sid])).toString('base64url');
}

/** Cursors come back from clients, so a malformed one is a ValidationError. */
export function decodeSessionCursor(cursor: string): SessionPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    Number.isSafeInteger(parsed[0]) &&
    typeof parsed[1] === 'string'
  ) {
    return { issuedAt: parsed[0] as number, sid: parsed[1] };
  }
  throw new ValidationError('Invalid page cursor');
}

export const maxPageSize = 10_000;

export function checkPageLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > maxPageSize)
    throw new ValidationError(`limit must be an integer from 1 to ${maxPageSize}`);
}
