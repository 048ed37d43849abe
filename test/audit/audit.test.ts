import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  AuditLog,
  auditHash,
  openAuditEntry,
  verifyAuditChain,
  type AuditEventInput,
} from '../../src/audit/index.js';
import { auditCommand } from '../../src/cli/audit.js';
import { ManualClock } from '../../src/clock.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { REDACTED } from '../../src/log.js';
import { createStore } from '../../src/store/index.js';
import { RedisKeys } from '../../src/store/redis/keys.js';
import type { AuditEntry, Store } from '../../src/store/types.js';
import { capturingLogger } from '../support/app.js';
import { memoryStoreKind, redisStoreKind, type TestStoreKind } from '../support/stores.js';

const redisUrl = inject('redisUrl');
/** Unique per run and file; every store below gets its own prefix under it. */
const runPrefix = `fp-test-audit-${randomBytes(6).toString('hex')}-`;
let prefixes = 0;
const raw = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
raw.on('error', () => {});

/** A Redis store on a fresh key prefix (returned, to reach its keys with the raw client). */
function redisStore(keyPrefix = `${runPrefix}${++prefixes}:`): { store: Store; keyPrefix: string } {
  const store = createStore({
    type: 'redis',
    redis: { url: redisUrl, keyPrefix, commandTimeoutMs: 2000 },
    auditMaxLength: 1000,
  });
  return { store, keyPrefix };
}

afterAll(async () => {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await raw.scan(cursor, 'MATCH', `${runPrefix}*`, 'COUNT', 500);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  if (found.length > 0) await raw.del(...found);
  raw.disconnect();
});

const JWT =
  'eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';

/** One of each event type, in a plausible order. */
const sampleEvents: AuditEventInput[] = [
  {
    type: 'signin.failed',
    method: 'oidc',
    code: 'invalid_grant',
    reason: 'code already used',
    sourceIp: '10.0.0.9',
  },
  {
    type: 'signin.succeeded',
    method: 'oidc',
    actor: { principal: 'p-alice', username: 'alice', idp: 'corp' },
    groups: 2,
  },
  {
    type: 'credentials.minted',
    requestId: 'req-1',
    actor: { principal: 'p-alice', username: 'alice', idp: 'corp' },
    sessionId: 'sess-1',
    accessKeyId: 'ASIAAAAAAAAAAAAAAAAA',
    role: 'reports-reader',
    expiresAt: Date.UTC(2026, 0, 1, 1),
    durationSeconds: 3600,
  },
  {
    type: 'credentials.reused',
    actor: { principal: 'p-alice' },
    sessionId: 'sess-1',
    accessKeyId: 'ASIAAAAAAAAAAAAAAAAA',
    role: 'reports-reader',
    expiresAt: Date.UTC(2026, 0, 1, 1),
  },
  {
    type: 'credentials.denied',
    role: 'reports-admin',
    code: 'AccessDenied',
    reason: 'no mapping gives this role',
  },
  { type: 'revocation', actor: { tokenName: 'automation' }, scope: 'user', value: 'p-alice', reason: 'left' },
  {
    type: 'admin.change',
    actor: { username: 'adam' },
    resource: 'roles',
    action: 'update',
    name: 'reports-reader',
    version: 3,
  },
];

async function recordAll(log: AuditLog, events: readonly AuditEventInput[]): Promise<string[]> {
  const ids: string[] = [];
  for (const event of events) ids.push(await log.record(event));
  return ids;
}

async function readAll(store: Store, after?: string): Promise<AuditEntry[]> {
  const all: AuditEntry[] = [];
  let cursor = after;
  for (;;) {
    const page = await store.audit.read({ limit: 100, ...(cursor === undefined ? {} : { after: cursor }) });
    if (page.length === 0) return all;
    all.push(...page);
    cursor = page.at(-1)?.id;
  }
}

function at<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no item ${index}`);
  return item;
}

describe.each([
  ['memory', memoryStoreKind],
  ['redis', redisStoreKind],
])('audit log on the %s store', (_name, makeKind: () => TestStoreKind) => {
  let kind: TestStoreKind;
  let store: Store;
  const clock = new ManualClock();

  beforeEach(() => {
    kind = makeKind();
    store = kind.make(clock);
  });
  afterEach(async () => {
    await store.close();
    await kind.cleanup();
  });

  it('records form one chain from the first entry, each verifying as it grows', async () => {
    const { logger } = capturingLogger();
    const log = new AuditLog({ store, logger, clock });
    const ids: string[] = [];
    for (const event of sampleEvents) {
      ids.push(await log.record(event));
      clock.advance(10);
      const entries = await readAll(store);
      const result = verifyAuditChain(entries, { startHash: '' });
      expect(result).toEqual({ ok: true, count: entries.length, head: entries.at(-1)?.hash });
    }
    const entries = await readAll(store);
    expect(entries.map((entry) => entry.id)).toEqual(ids);
    expect(entries.map((entry) => openAuditEntry(entry.entry)?.event.type)).toEqual(
      sampleEvents.map((event) => event.type),
    );
    // `at` comes from the clock when the caller leaves it out.
    expect(openAuditEntry(at(entries, 0).entry)?.event.at).toBe(Date.UTC(2026, 0, 1));
  });

  it('seals each entry with its predecessor’s hash inside, canonically serialised', async () => {
    const log = new AuditLog({ store, logger: capturingLogger().logger, clock });
    await recordAll(log, sampleEvents.slice(0, 3));
    const entries = await readAll(store);
    entries.forEach((entry, i) => {
      const opened = openAuditEntry(entry.entry);
      expect(opened?.prev).toBe(i === 0 ? '' : at(entries, i - 1).hash);
      expect(entry.hash).toBe(auditHash(opened?.prev ?? 'x', entry.entry));
    });
    // Keys sorted at every depth: the serialisation does not depend on how the caller built the object.
    expect(at(entries, 1).entry).toMatch(
      /^\{"event":\{"actor":\{"idp":"corp","principal":"p-alice","username":"alice"\},"at":\d+,"groups":2,"method":"oidc","type":"signin.succeeded"\},"prev":"[0-9a-f]{64}","v":1\}$/,
    );
  });

  it('writes each event to the log with its entry id and hash', async () => {
    const { logger, lines } = capturingLogger();
    const log = new AuditLog({ store, logger, clock });
    const id = await log.record(at(sampleEvents, 2));
    const [entry] = await readAll(store);
    const line = JSON.parse(lines.find((l) => l.includes('"audit"')) ?? '{}');
    expect(line).toMatchObject({
      level: 30,
      auditId: id,
      auditHash: entry?.hash,
      audit: { type: 'credentials.minted', sessionId: 'sess-1', role: 'reports-reader' },
    });
  });

  it('stores no secrets: token-shaped values and secret-named fields are redacted before sealing', async () => {
    const { logger, lines } = capturingLogger();
    const log = new AuditLog({ store, logger, clock });
    const leaky = {
      type: 'signin.failed',
      method: 'bearer',
      code: 'InvalidIdentityToken',
      reason: `token ${JWT} has expired`,
      actor: { tokenName: 'automation' },
      // Fields the types forbid, as a careless caller could still pass them.
      token: 'opaque-admin-token-value',
      SessionToken: 'session-token-value',
      detail: {
        samlResponse: 'PHNhbWxwOlJlc3BvbnNl',
        nested: [{ secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' }],
      },
    } as unknown as AuditEventInput;
    await log.record(leaky);
    const [entry] = await readAll(store);
    const stored = entry?.entry ?? '';
    for (const secret of [
      JWT,
      'opaque-admin-token-value',
      'session-token-value',
      'PHNhbWxwOlJlc3BvbnNl',
      'wJalrXUtnFEMI',
    ]) {
      expect(stored).not.toContain(secret);
      expect(lines.join('\n')).not.toContain(secret);
    }
    expect(openAuditEntry(stored)?.event).toMatchObject({
      reason: `token ${REDACTED} has expired`,
      actor: { tokenName: 'automation' },
      token: REDACTED,
    });
    // What is stored is what was hashed: redaction happens before sealing, so the chain verifies.
    expect(verifyAuditChain(await readAll(store), { startHash: '' }).ok).toBe(true);
    if (kind.dump) expect((await kind.dump()).join('\n')).not.toContain(JWT);
  });
});

describe('audit chain verification', () => {
  /** A clean chain of the sample events, read back from a memory store. */
  async function cleanChain(): Promise<AuditEntry[]> {
    const kind = memoryStoreKind();
    const store = kind.make(new ManualClock());
    await recordAll(new AuditLog({ store, logger: capturingLogger().logger }), sampleEvents);
    const entries = await readAll(store);
    await store.close();
    return entries;
  }

  it('accepts an empty run', () => {
    expect(verifyAuditChain([])).toEqual({ ok: true, count: 0, head: '' });
    expect(verifyAuditChain([], { startHash: 'abc' })).toEqual({ ok: true, count: 0, head: 'abc' });
  });

  it('reports an edited entry as altered at that entry', async () => {
    const entries = await cleanChain();
    const edited = entries.map((entry) => ({ ...entry }));
    at(edited, 2).entry = at(edited, 2).entry.replace('reports-reader', 'reports-admin');
    expect(verifyAuditChain(edited)).toMatchObject({
      ok: false,
      at: at(entries, 2).id,
      problem: 'altered',
      count: 2,
    });
  });

  it('reports an entry that is not a sealed entry at all as altered', async () => {
    const entries = await cleanChain();
    const garbled = entries.map((entry) => ({ ...entry }));
    at(garbled, 4).entry = 'not json';
    expect(verifyAuditChain(garbled)).toMatchObject({ ok: false, at: at(entries, 4).id, problem: 'altered' });
  });

  it('reports an edited and re-hashed entry at the next entry, whose link no longer holds', async () => {
    const entries = await cleanChain();
    const forged = entries.map((entry) => ({ ...entry }));
    const target = at(forged, 2);
    target.entry = target.entry.replace('reports-reader', 'reports-admin');
    target.hash = auditHash(openAuditEntry(target.entry)?.prev ?? '', target.entry);
    expect(verifyAuditChain(forged)).toMatchObject({ ok: false, at: at(entries, 3).id, problem: 'missing' });
  });

  it('reports a removed entry as missing at the entry after the gap', async () => {
    const entries = await cleanChain();
    const gap = entries.filter((_, i) => i !== 3);
    expect(verifyAuditChain(gap)).toMatchObject({
      ok: false,
      at: at(entries, 4).id,
      problem: 'missing',
      count: 3,
    });
  });

  it('takes the first entry’s link on trust (trimming) unless a start hash is given', async () => {
    const entries = await cleanChain();
    const trimmed = entries.slice(2);
    expect(verifyAuditChain(trimmed)).toMatchObject({ ok: true, count: trimmed.length });
    expect(verifyAuditChain(trimmed, { startHash: at(entries, 1).hash })).toMatchObject({ ok: true });
    expect(verifyAuditChain(trimmed, { startHash: '' })).toMatchObject({
      ok: false,
      at: at(entries, 2).id,
      problem: 'missing',
    });
  });
});

describe('audit trail on Redis: tampering at rest', () => {
  const stores: Store[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  function open(keyPrefix?: string) {
    const made = redisStore(keyPrefix);
    stores.push(made.store);
    return { ...made, keys: new RedisKeys(made.keyPrefix) };
  }

  it('detects an entry deleted with XDEL, at the entry after it', async () => {
    const { store, keys } = open();
    const ids = await recordAll(new AuditLog({ store, logger: capturingLogger().logger }), sampleEvents);
    expect(await raw.xdel(keys.auditLog, at(ids, 3))).toBe(1);
    const result = verifyAuditChain(await readAll(store), { startHash: '' });
    expect(result).toMatchObject({ ok: false, at: at(ids, 4), problem: 'missing', count: 3 });
  });

  it('detects the first entry deleted only when the chain must start at its beginning', async () => {
    const { store, keys } = open();
    const ids = await recordAll(new AuditLog({ store, logger: capturingLogger().logger }), sampleEvents);
    await raw.xdel(keys.auditLog, at(ids, 0));
    // Without an anchor this looks like trimming: that is the price of a bounded stream.
    expect(verifyAuditChain(await readAll(store))).toMatchObject({ ok: true, count: ids.length - 1 });
    expect(verifyAuditChain(await readAll(store), { startHash: '' })).toMatchObject({
      ok: false,
      at: at(ids, 1),
      problem: 'missing',
    });
  });

  it('detects an entry rewritten in place (stream rebuilt with the same ids), as altered', async () => {
    const { store, keys } = open();
    const ids = await recordAll(new AuditLog({ store, logger: capturingLogger().logger }), sampleEvents);
    // XADD cannot edit, so rebuild the stream: same ids and fields, one entry's role changed.
    const original = await raw.xrange(keys.auditLog, '-', '+');
    await raw.del(keys.auditLog);
    for (const [id, fields] of original) {
      const rewritten =
        id === at(ids, 2) ? fields.map((f) => f.replace('reports-reader', 'reports-admin')) : fields;
      await raw.xadd(keys.auditLog, id, ...rewritten);
    }
    const entries = await readAll(store);
    expect(entries.map((entry) => entry.id)).toEqual(ids);
    expect(openAuditEntry(at(entries, 2).entry)?.event).toMatchObject({ role: 'reports-admin' });
    expect(verifyAuditChain(entries, { startHash: '' })).toMatchObject({
      ok: false,
      at: at(ids, 2),
      problem: 'altered',
    });
  });

  it('reports a chain restarted after its head was deleted as a broken link', async () => {
    const { store, keys, keyPrefix } = open();
    const ids = await recordAll(
      new AuditLog({ store, logger: capturingLogger().logger }),
      sampleEvents.slice(0, 3),
    );
    await raw.del(keys.auditHead);
    // A fresh instance (no cached head) appends: the store now offers '' as the previous hash.
    const { store: later } = open(keyPrefix);
    const next = await new AuditLog({ store: later, logger: capturingLogger().logger }).record(
      at(sampleEvents, 3),
    );
    const result = verifyAuditChain(await readAll(store), { startHash: '' });
    expect(result).toMatchObject({ ok: false, at: next, problem: 'broken link', count: ids.length });
  });

  it('concurrent records from two AuditLog instances on one prefix still form one chain', async () => {
    const { store: first, keyPrefix } = open();
    const { store: second } = open(keyPrefix);
    const logs = [first, second].map((store) => new AuditLog({ store, logger: capturingLogger().logger }));
    const count = 60;
    const ids = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        at(logs, i % 2).record({ type: 'admin.change', resource: 'roles', action: 'update', name: `r${i}` }),
      ),
    );
    const entries = await readAll(first);
    expect(entries).toHaveLength(count);
    expect(new Set(entries.map((entry) => entry.id))).toEqual(new Set(ids));
    expect(verifyAuditChain(entries, { startHash: '' })).toEqual({
      ok: true,
      count,
      head: entries.at(-1)?.hash,
    });
  });
});

describe('AuditLog when the store fails', () => {
  it('rejects and logs the event at error level instead of dropping it', async () => {
    const { logger, lines } = capturingLogger();
    const failing = {
      audit: {
        append: () => Promise.reject(new StoreUnavailableError('Redis is down')),
        read: () => Promise.resolve([]),
      },
    };
    const log = new AuditLog({ store: failing, logger });
    await expect(log.record(at(sampleEvents, 4))).rejects.toBeInstanceOf(StoreUnavailableError);
    const line = JSON.parse(lines.find((l) => l.includes('could not record')) ?? '{}');
    expect(line).toMatchObject({ level: 50, audit: { type: 'credentials.denied', role: 'reports-admin' } });
    expect(line.err?.message).toContain('Redis is down');
  });
});

describe('fedproxy audit export', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedproxy-audit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function collector() {
    let text = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString('utf8');
        callback();
      },
    });
    return { stream, text: () => text };
  }

  /** A config file for a Redis store under a prefix of its own, plus that store's recorded ids. */
  async function recordedTrail(): Promise<{ file: string; ids: string[]; keys: RedisKeys; store: Store }> {
    const keyPrefix = `${runPrefix}${++prefixes}:`;
    const file = join(dir, 'fedproxy.yaml');
    await writeFile(
      file,
      [
        'mode: development',
        'store:',
        '  type: redis',
        '  redis:',
        `    url: ${redisUrl}`,
        `    keyPrefix: "${keyPrefix}"`,
        '',
      ].join('\n'),
    );
    const { store } = redisStore(keyPrefix);
    const ids = await recordAll(new AuditLog({ store, logger: capturingLogger().logger }), sampleEvents);
    return { file, ids, keys: new RedisKeys(keyPrefix), store };
  }

  async function runExport(args: string[]) {
    const stdout = collector();
    const stderr = collector();
    const run = auditCommand(['export', ...args], { stdout: stdout.stream, stderr: stderr.stream, env: {} });
    return { run, stdout, stderr };
  }

  it('exports a clean chain as JSON lines and verifies it', async () => {
    const { file, ids, store } = await recordedTrail();
    const { run, stdout, stderr } = await runExport(['--config', file, '--verify']);
    await run;
    const lines = stdout
      .text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntry);
    expect(lines.map((line) => Object.keys(line))).toEqual(ids.map(() => ['id', 'hash', 'entry']));
    expect(lines).toEqual(await readAll(store));
    expect(verifyAuditChain(lines, { startHash: '' }).ok).toBe(true);
    expect(stderr.text()).toContain(`verified ${ids.length} audit entries; head ${lines.at(-1)?.hash}`);
    await store.close();
  });

  it('with --after exports only later entries, still verified', async () => {
    const { file, ids, store } = await recordedTrail();
    const { run, stdout } = await runExport(['--config', file, '--verify', '--after', at(ids, 4)]);
    await run;
    const lines = stdout
      .text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntry);
    expect(lines.map((line) => line.id)).toEqual(ids.slice(5));
    await store.close();
  });

  it('fails with where the chain breaks, after exporting everything', async () => {
    const { file, ids, keys, store } = await recordedTrail();
    await raw.xdel(keys.auditLog, at(ids, 3));
    const { run, stdout } = await runExport(['--config', file, '--verify']);
    await expect(run).rejects.toThrow(
      `audit chain broken: 1 problem(s) in ${ids.length - 1} exported entries`,
    );
    await expect(run).rejects.toThrow(`at ${at(ids, 4)}: missing`);
    expect(stdout.text().trimEnd().split('\n')).toHaveLength(ids.length - 1);
    await store.close();
  });

  it('without --verify exports a broken chain without complaint', async () => {
    const { file, ids, keys, store } = await recordedTrail();
    await raw.xdel(keys.auditLog, at(ids, 3));
    const { run, stderr } = await runExport(['--config', file]);
    await run;
    expect(stderr.text()).toContain('not verified');
    await store.close();
  });

  it('refuses an unknown subcommand or option', async () => {
    await expect(auditCommand(['import'])).rejects.toThrow(/audit export/);
    await expect(auditCommand(['export', '--bogus'])).rejects.toThrow(/bogus/);
  });
});
