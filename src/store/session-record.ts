import type { SessionIndex, SessionRecord } from './types.js';

/**
 * The stored form of a session record: flat string fields, as a Redis hash holds them. The memory store
 * keeps the same form, so both stores copy records in and out alike and round-trip the same data.
 */
export type SessionFields = Record<string, string>;

const textFields = [
  'sid',
  'akid',
  'kid',
  'principal',
  'idp',
  'issuer',
  'subject',
  'username',
  'role',
  'sessionName',
  'policy',
  'policyHash',
] as const satisfies readonly (keyof SessionRecord)[];

const timeFields = ['issuedAt', 'expiresAt'] as const satisfies readonly (keyof SessionRecord)[];

export function encodeSessionRecord(record: SessionRecord): SessionFields {
  const fields: SessionFields = {};
  for (const name of textFields) fields[name] = record[name];
  for (const name of timeFields) fields[name] = String(record[name]);
  fields.groups = JSON.stringify(record.groups);
  if (record.sessionPolicy !== undefined) fields.sessionPolicy = record.sessionPolicy;
  if (record.revokedAt !== undefined) fields.revokedAt = String(record.revokedAt);
  return fields;
}

/** Throws when a stored record is incomplete: a damaged record must not pass for a valid session. */
export function decodeSessionRecord(fields: SessionFields): SessionRecord {
  const text = (name: string): string => {
    const value = fields[name];
    if (value === undefined) throw corrupt(fields, `missing ${name}`);
    return value;
  };
  const time = (name: string): number => {
    const value = Number(text(name));
    if (!Number.isSafeInteger(value)) throw corrupt(fields, `bad ${name}`);
    return value;
  };
  const groups: unknown = JSON.parse(text('groups'));
  if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string'))
    throw corrupt(fields, 'bad groups');
  const record: SessionRecord = {
    sid: text('sid'),
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
    policy: text('policy'),
    policyHash: text('policyHash'),
    issuedAt: time('issuedAt'),
    expiresAt: time('expiresAt'),
  };
  if (fields.sessionPolicy !== undefined) record.sessionPolicy = fields.sessionPolicy;
  if (fields.revokedAt !== undefined) record.revokedAt = time('revokedAt');
  return record;
}

function corrupt(fields: SessionFields, problem: string): Error {
  return new Error(`Stored session record ${fields.sid ?? '(no sid)'} is corrupt: ${problem}`);
}

/** The indexes a session is listed under. */
export function indexesOf(record: SessionRecord): SessionIndex[] {
  return [
    { by: 'all' },
    { by: 'principal', value: record.principal },
    { by: 'role', value: record.role },
    { by: 'idp', value: record.idp },
    ...[...new Set(record.groups)].map((value): SessionIndex => ({ by: 'group', value })),
  ];
}

/** A stable name for an index: `all`, or `<by>:<value>` (the value is the whole remainder). */
export function indexName(index: SessionIndex): string {
  return index.by === 'all' ? 'all' : `${index.by}:${index.value}`;
}
