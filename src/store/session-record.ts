import type { SessionIndex, SessionRecord } from './types.js';

/**
 * The stored form of a session record: one string, as Redis keeps it under the session's key. The memory
 * store keeps the same form, so both stores copy records in and out alike and round-trip the same data.
 *
 * The string is a JSON array of the record's fields in `storedFieldOrder`, without the sid (the key names
 * it): field names would cost about 130 bytes per session, a quarter of the record. A policy whose text is
 * exactly the compact JSON of an object or array (as minted policies are) is kept as that JSON, not as a
 * string, which saves escaping every quote in it; decoding serialises it back to the same text.
 *
 * A revocation appends a newline and the revocation time. JSON.stringify never emits a raw newline, so the
 * first newline marks a revoked record, and a record that has one is never revoked again: the first
 * revocation time stands. (The Redis store does this in a script; see `fpRevoke`.)
 */
export type StoredSessionRecord = string;

/** The field at each position of the stored array; `sessionPolicy` last, and only when there is one. */
const storedFieldOrder = [
  'akid',
  'kid',
  'principal',
  'idp',
  'issuer',
  'subject',
  'username',
  'groups',
  'role',
  'sessionName',
  'policy',
  'policyHash',
  'issuedAt',
  'expiresAt',
  'sessionPolicy',
] as const satisfies readonly Exclude<keyof SessionRecord, 'sid' | 'revokedAt'>[];

type StoredField = (typeof storedFieldOrder)[number];

export function encodeSessionRecord(record: SessionRecord): StoredSessionRecord {
  const values = storedFieldOrder.map((name): unknown => {
    if (name !== 'policy' && name !== 'sessionPolicy') return record[name];
    const policy = record[name];
    return policy === undefined ? policy : compactPolicy(policy);
  });
  if (record.sessionPolicy === undefined) values.pop();
  const stored = JSON.stringify(values);
  return record.revokedAt === undefined ? stored : revokedRecord(stored, record.revokedAt);
}

/** The stored record marked revoked at `at`; unchanged when it is revoked already (the first time stands). */
export function revokedRecord(stored: StoredSessionRecord, at: number): StoredSessionRecord {
  return stored.includes('\n') ? stored : `${stored}\n${at}`;
}

/**
 * Throws when a stored record is damaged in any way (not JSON, a field missing, extra or of the wrong
 * type, a malformed revocation time): a damaged record must not pass for a valid session.
 */
export function decodeSessionRecord(sid: string, stored: StoredSessionRecord): SessionRecord {
  const newline = stored.indexOf('\n');
  const json = newline === -1 ? stored : stored.slice(0, newline);
  const revocation = newline === -1 ? undefined : stored.slice(newline + 1);
  let values: unknown;
  try {
    values = JSON.parse(json);
  } catch {
    throw corrupt(sid, 'not JSON');
  }
  // Every field but the last (sessionPolicy) is required.
  if (
    !Array.isArray(values) ||
    values.length < storedFieldOrder.length - 1 ||
    values.length > storedFieldOrder.length
  )
    throw corrupt(sid, 'wrong number of fields');
  const field = (name: StoredField): unknown => values[storedFieldOrder.indexOf(name)];
  const text = (name: StoredField): string => {
    const value = field(name);
    if (typeof value !== 'string') throw corrupt(sid, `bad ${name}`);
    return value;
  };
  const time = (name: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      throw corrupt(sid, `bad ${name}`);
    return value;
  };
  const policy = (name: 'policy' | 'sessionPolicy'): string => {
    const value = field(name);
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null) return JSON.stringify(value);
    throw corrupt(sid, `bad ${name}`);
  };
  const groups = field('groups');
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string'))
    throw corrupt(sid, 'bad groups');
  const record: SessionRecord = {
    sid,
    akid: text('akid'),
    kid: text('kid'),
    principal: text('principal'),
    idp: text('idp'),
    issuer: text('issuer'),
    subject: text('subject'),
    username: text('username'),
    groups,
    role: text('role'),
    sessionName: text('sessionName'),
    policy: policy('policy'),
    policyHash: text('policyHash'),
    issuedAt: time('issuedAt', field('issuedAt')),
    expiresAt: time('expiresAt', field('expiresAt')),
  };
  if (values.length === storedFieldOrder.length) record.sessionPolicy = policy('sessionPolicy');
  if (revocation !== undefined) {
    if (!/^\d{1,16}$/.test(revocation)) throw corrupt(sid, 'bad revokedAt');
    record.revokedAt = time('revokedAt', Number(revocation));
  }
  return record;
}

/**
 * The policy as JSON when its text is exactly the compact JSON of an object or array, otherwise the text.
 * Only objects and arrays: a policy text that is itself a JSON string would come back without its quotes.
 */
function compactPolicy(text: string): unknown {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && JSON.stringify(parsed) === text ? parsed : text;
  } catch {
    return text;
  }
}

function corrupt(sid: string, problem: string): Error {
  return new Error(`Stored session record ${sid} is corrupt: ${problem}`);
}

/** The indexes kept at mint time; other listings filter the `all` index (see session-listing.ts). */
export type KeptSessionIndex = Extract<SessionIndex, { by: 'all' | 'principal' }>;

/** The indexes a session is listed under. */
export function indexesOf(record: SessionRecord): KeptSessionIndex[] {
  return [{ by: 'all' }, { by: 'principal', value: record.principal }];
}

/** A stable name for an index: `all`, or `principal:<value>` (the value is the whole remainder). */
export function indexName(index: KeptSessionIndex): string {
  return index.by === 'all' ? 'all' : `principal:${index.value}`;
}
