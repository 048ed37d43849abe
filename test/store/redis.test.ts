import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest';
import { openAuditEntry, sealAuditEvent, verifyAuditChain } from '../../src/audit/chain.js';
import { ManualClock, systemClock } from '../../src/clock.js';
import type { Config } from '../../src/config/schema.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import { RedisAuditStore } from '../../src/store/redis/audit.js';
import { RedisConnection } from '../../src/store/redis/connection.js';
import { RedisKeys } from '../../src/store/redis/keys.js';
import { INDEX_HORIZON_MS } from '../../src/store/redis/sessions.js';
import type { AuditEntry, SessionRecord, Store } from '../../src/store/types.js';
import { startThrowawayRedis } from '../support/redis-server.js';
import { describeStoreConformance } from './conformance.js';

const url = inject('redisUrl');
/** Unique per run and file: parallel test files and leftovers of earlier runs never meet. */
const runPrefix = `fp-test-${randomBytes(6).toString('hex')}:`;
const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
admin.on('error', () => {});

const storeConfig = (redis: Partial<Config['store']['redis']>): Config['store'] => ({
  type: 'redis',
  redis: { url, keyPrefix: runPrefix, commandTimeoutMs: 2000, ...redis },
  auditMaxLength: 1000,
});

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

async function deleteKeysUnder(prefix: string): Promise<void> {
  const found = await keysUnder(prefix);
  if (found.length > 0) await admin.unlink(...found);
}

afterAll(async () => {
  await deleteKeysUnder(runPrefix);
  admin.disconnect();
});

let opened = 0;
describeStoreConformance('redis', () => {
  const prefixes = new Map<Store, string>();
  const openOn = (keyPrefix: string) => {
    const store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    prefixes.set(store, keyPrefix);
    return store;
  };
  return {
    clock: systemClock,
    elapse: (ms) => sleep(ms),
    open: () => openOn(`${runPrefix}${opened++}:`),
    openPeer: (store) => openOn(prefixes.get(store) ?? runPrefix),
    cleanup: async () => {
      for (const prefix of new Set(prefixes.values())) await deleteKeysUnder(prefix);
    },
  };
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

async function expectUnavailableQuickly(call: Promise<unknown>, withinMs: number): Promise<void> {
  const started = performance.now();
  await expect(call).rejects.toBeInstanceOf(StoreUnavailableError);
  expect(performance.now() - started).toBeLessThan(withinMs);
}

/** A session record of user `p-a` issued now, living a minute. */
const record = (sid: string): SessionRecord => {
  const now = Date.now();
  return {
    sid,
    akid: `ASIA${sid.toUpperCase().padEnd(16, 'X')}`,
    kid: 'k1',
    principal: 'p-a',
    idp: 'corp',
    issuer: 'https://login.corp.example',
    subject: 'a',
    username: 'a',
    groups: ['g'],
    role: 'r',
    sessionName: 'a',
    policy: '{"Version":"2012-10-17","Statement":[]}',
    policyHash: 'ph',
    issuedAt: now,
    expiresAt: now + 60_000,
  };
};

describe('redis store', () => {
  it('fails fast with StoreUnavailableError when nothing listens at the Redis address', async () => {
    const store = createStore(storeConfig({ url: `redis://127.0.0.1:${await closedPort()}` }));
    const started = performance.now();
    await expectUnavailableQuickly(store.ping(), 2000);
    await expectUnavailableQuickly(store.sessions.get('s-1'), 500);
    await expectUnavailableQuickly(store.once.putIfAbsent('state', 'k', 'v', 1000), 500);
    await expectUnavailableQuickly(store.loginSessions.get('l-1'), 500);
    await expectUnavailableQuickly(store.rateCounters.increment('ip:a', 1000), 500);
    await expectUnavailableQuickly(
      store.audit.append(() => ({ entry: 'e', hash: 'h' })),
      500,
    );
    await expectUnavailableQuickly(
      store.pubsub.subscribe('revocations', () => {}),
      2000,
    );
    await store.close();
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('fails within the command timeout when Redis accepts connections but never answers', async () => {
    const silent: Server = createServer(() => {}).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const address = silent.address();
    if (typeof address !== 'object' || address === null) throw new Error('no port');
    const store = createStore(
      storeConfig({ url: `redis://127.0.0.1:${address.port}`, commandTimeoutMs: 300 }),
    );
    try {
      await expectUnavailableQuickly(store.ping(), 1500);
      await expectUnavailableQuickly(store.sessions.get('s-1'), 1500);
      await expectUnavailableQuickly(store.rateCounters.increment('ip:a', 1000), 1500);
      const closing = performance.now();
      await store.close();
      expect(performance.now() - closing).toBeLessThan(1000);
    } finally {
      silent.close();
    }
  });

  it('reconnects by itself when Redis comes back, and subscriptions resume', async () => {
    let server = await startThrowawayRedis();
    const store = createStore(storeConfig({ url: server.url, commandTimeoutMs: 500 }));
    const received: string[] = [];
    try {
      await store.ping();
      await store.pubsub.subscribe('revocations', (message) => void received.push(message));

      server.process.kill('SIGKILL');
      await once(server.process, 'exit');
      await vi.waitFor(() => expectUnavailableQuickly(store.ping(), 1000), { timeout: 3000, interval: 20 });
      await expectUnavailableQuickly(store.pubsub.publish('revocations', 'while-down'), 1000);

      server = await startThrowawayRedis(server.port);
      await vi.waitFor(() => store.ping(), { timeout: 5000, interval: 50 });
      await vi.waitFor(
        async () => {
          await store.pubsub.publish('revocations', 'after-restart');
          expect(received).toContain('after-restart');
        },
        { timeout: 5000, interval: 50 },
      );
    } finally {
      await store.close();
      server.process.kill('SIGKILL');
    }
  });

  it('keeps every key under its prefix; sessions and their indexes expire, an index with its longest member, a revoked session too', async () => {
    const keyPrefix = `${runPrefix}layout:`;
    const store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    try {
      const now = Date.now();
      await store.sessions.create({ ...record('s-long'), issuedAt: now, expiresAt: now + 20_000 });
      await store.sessions.create({ ...record('s-short'), issuedAt: now, expiresAt: now + 10_000 });
      await store.notBefore.raise('global', now, 30_000);
      await store.once.putIfAbsent('state', 'k', 'v', 30_000);
      await store.loginSessions.put('l-1', '{}', 30_000);
      await store.rateCounters.increment('signin-ip:10.0.0.1', 40_000);
      await store.rateCounters.increment('{x}', 40_000);
      await store.config.put('roles', '[]', 0);
      await store.audit.append(() => ({ entry: 'e', hash: 'h' }));

      const keys = await keysUnder(keyPrefix);
      expect(keys.map((key) => key.slice(keyPrefix.length)).sort()).toEqual(
        [
          'sess1:s-long',
          'sess1:s-short',
          'idx:all',
          'idx:principal:p-a',
          '{nb}:global',
          'once:state:k',
          'login:l-1',
          'rate:signin-ip%3A10.0.0.1',
          'rate:%7Bx%7D',
          'cfg:roles',
          '{audit}:log',
          '{audit}:head',
        ].sort(),
      );
      const ttl = (key: string) => admin.pttl(`${keyPrefix}${key}`);
      expect(await admin.type(`${keyPrefix}sess1:s-short`)).toBe('string');
      expect(await ttl('sess1:s-short')).toBeGreaterThan(8_000);
      expect(await ttl('sess1:s-short')).toBeLessThanOrEqual(10_000);
      // A revocation rewrites the record and keeps its lifetime.
      expect(await store.sessions.revoke('s-short', now)).toBe(true);
      expect(await ttl('sess1:s-short')).toBeGreaterThan(8_000);
      expect(await ttl('sess1:s-short')).toBeLessThanOrEqual(10_000);
      for (const index of ['idx:all', 'idx:principal:p-a']) {
        expect(await ttl(index)).toBeGreaterThan(18_000);
        expect(await ttl(index)).toBeLessThanOrEqual(20_000);
      }
      expect(await ttl('login:l-1')).toBeGreaterThan(28_000);
      expect(await ttl('login:l-1')).toBeLessThanOrEqual(30_000);
      expect(await ttl('rate:signin-ip%3A10.0.0.1')).toBeGreaterThan(38_000);
      expect(await ttl('rate:signin-ip%3A10.0.0.1')).toBeLessThanOrEqual(40_000);
      expect(await ttl('cfg:roles')).toBe(-1);
    } finally {
      await store.close();
    }
  });
});

describe('redis session records', () => {
  const keyPrefix = `${runPrefix}damaged:`;
  let store: Store;
  afterEach(async () => {
    await store.close();
    await deleteKeysUnder(keyPrefix);
  });

  it.each([
    ['garbage', 'not a record'],
    ['an empty string', ''],
    ['JSON of another shape', '{"sid":"s-1"}'],
    ['a field missing', (stored: string) => JSON.stringify(JSON.parse(stored).slice(0, -1))],
    ['a field of the wrong type', (stored: string) => stored.replace('"corp"', '7')],
    ['a time that is not an integer', (stored: string) => stored.replace(/,(\d+)]$/, ',1.5]')],
    ['a cut-off record', (stored: string) => stored.slice(0, -5)],
    ['a revocation time that is not a number', (stored: string) => `${stored}\nsoon`],
    ['two revocation times', (stored: string) => `${stored}\n5\n6`],
  ])('a record holding %s is an error, never a valid session', async (_, damage) => {
    store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    const session = record('s-damaged');
    await store.sessions.create(session);
    const key = `${keyPrefix}sess1:${session.sid}`;
    const stored = defined(await admin.get(key));
    await admin.set(key, typeof damage === 'string' ? damage : damage(stored), 'KEEPTTL');

    await expect(store.sessions.get(session.sid)).rejects.toThrow(
      /Stored session record s-damaged is corrupt/,
    );
    await expect(store.sessions.list({ by: 'all' }, { limit: 10 })).rejects.toThrow(/corrupt/);
    await expect(store.sessions.list({ by: 'role', value: 'r' }, { limit: 10 })).rejects.toThrow(/corrupt/);
  });

  it('adding a session trims index members issued longer ago than any session can live', async () => {
    const clock = new ManualClock(Date.now() - INDEX_HORIZON_MS - 60_000);
    store = createStore(storeConfig({ keyPrefix }), { clock });
    const old = { ...record('s-old'), issuedAt: clock.now(), expiresAt: clock.now() + 900_000 };
    await store.sessions.create(old);
    expect(await admin.zrange(`${keyPrefix}idx:all`, '0', '-1')).toEqual(['s-old']);
    clock.set(Date.now());
    await store.sessions.create({
      ...record('s-new'),
      issuedAt: clock.now(),
      expiresAt: clock.now() + 900_000,
    });
    expect(await admin.zrange(`${keyPrefix}idx:all`, '0', '-1')).toEqual(['s-new']);
    expect(await admin.zrange(`${keyPrefix}idx:principal:p-a`, '0', '-1')).toEqual(['s-new']);
  });

  it('a record of another type under the key is an error, never a valid session', async () => {
    store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    const session = record('s-hash');
    await store.sessions.create(session);
    const key = `${keyPrefix}sess1:${session.sid}`;
    await admin.del(key);
    await admin.hset(key, { sid: session.sid, akid: session.akid });
    await expect(store.sessions.get(session.sid)).rejects.toThrow();
    await expect(store.sessions.revoke(session.sid, Date.now())).rejects.toThrow();
  });

  it('a revocation marks the record once, and the stored record decodes unchanged otherwise', async () => {
    store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    const session = record('s-revoked');
    await store.sessions.create(session);
    const key = `${keyPrefix}sess1:${session.sid}`;
    const stored = defined(await admin.get(key));
    expect(stored).not.toContain('\n');
    await store.sessions.revoke(session.sid, 1_000);
    await store.sessions.revoke(session.sid, 2_000);
    expect(await admin.get(key)).toBe(`${stored}\n1000`);
    expect(await store.sessions.get(session.sid)).toEqual({ ...session, revokedAt: 1_000 });
  });
});

describe('redis audit store', () => {
  const connections: RedisConnection[] = [];
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
  });

  /** An audit store on its own connection, with a spy on that connection's append script. */
  const openAudit = (keyPrefix: string) => {
    const connection = new RedisConnection({ url, commandTimeoutMs: 2000, name: 'fedproxy-test-audit' });
    connections.push(connection);
    const audit = new RedisAuditStore(connection, new RedisKeys(keyPrefix), {
      maxLength: 1000,
      giveUpAfterMs: 2000,
    });
    const writeScript = connection.client.fpAuditAppend.bind(connection.client);
    const scriptSpy = vi.spyOn(connection.client, 'fpAuditAppend');
    /**
     * The arguments of each script call the store made. ioredis gives its auto-pipeline the client's script
     * methods, so the spy sees every call a second time, made on the pipeline: those are left out.
     */
    const scriptCalls = () =>
      scriptSpy.mock.calls.filter((_, i) => scriptSpy.mock.contexts[i] === connection.client);
    return { audit, scriptSpy, scriptCalls, writeScript };
  };
  const seal = (reason: string) =>
    sealAuditEvent({ type: 'credentials.denied', at: Date.now(), code: 'AccessDenied', reason });
  const reasonsOf = (entries: AuditEntry[]) =>
    entries.map((entry) => (openAuditEntry(entry.entry)?.event as { reason?: string } | undefined)?.reason);
  /** Entries passed to one script call (after stream, head, prevHash, maxLength come entry, hash pairs). */
  const entriesIn = (call: unknown[]) => (call.length - 4) / 2;

  it('writes concurrent appends on one instance in a few script calls of at most 128 entries each', async () => {
    const { audit, scriptCalls } = openAudit(`${runPrefix}audit-batches:`);
    const reasons = Array.from({ length: 300 }, (_, i) => `r${i}`);
    const ids = await Promise.all(reasons.map((reason) => audit.append(seal(reason))));

    // One call per append without group commit; ceil(300 / 128) = 3 when every append waits for a batch.
    const perCall = scriptCalls().map(entriesIn);
    expect(perCall.length).toBeGreaterThanOrEqual(3);
    expect(perCall.length).toBeLessThanOrEqual(10);
    expect(perCall.every((count) => count <= 128)).toBe(true);
    expect(perCall.reduce((sum, count) => sum + count, 0)).toBe(300);
    const entries = await audit.read({ limit: 1000 });
    expect(entries.map((entry) => entry.id)).toEqual(ids);
    expect(reasonsOf(entries)).toEqual(reasons);
    expect(verifyAuditChain(entries, { startHash: '' })).toMatchObject({ ok: true, count: 300 });
  });

  it('ends a batch at about 1 MiB of entry text; the appends left over are written next, in order', async () => {
    const { audit, scriptCalls } = openAudit(`${runPrefix}audit-large:`);
    const reasons = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(300_000, '.'));
    const ids = await Promise.all(reasons.map((reason) => audit.append(seal(reason))));

    const textPerCall = scriptCalls().map((call) =>
      call.slice(4).reduce<number>((length, arg) => length + String(arg).length, 0),
    );
    expect(textPerCall.length).toBeGreaterThanOrEqual(4);
    expect(textPerCall.every((length) => length <= 1 << 20)).toBe(true);
    const entries = await audit.read({ limit: 100 });
    expect(entries.map((entry) => entry.id)).toEqual(ids);
    expect(reasonsOf(entries)).toEqual(reasons);
    expect(verifyAuditChain(entries, { startHash: '' })).toMatchObject({ ok: true, count: 10 });
  });

  it('a batch whose write fails rejects exactly its appends; the appends queued behind it chain onto the stored head', async () => {
    const { audit, scriptSpy } = openAudit(`${runPrefix}audit-failed-batch:`);
    await audit.append(seal('first'));
    let queuedBehind: Promise<string>[] = [];
    scriptSpy.mockImplementationOnce(async () => {
      // Arriving while the batch is in flight, these wait for the next batch.
      queuedBehind = ['behind-0', 'behind-1', 'behind-2'].map((reason) => audit.append(seal(reason)));
      throw new Error('connection reset');
    });
    const failing = ['failing-0', 'failing-1', 'failing-2'].map((reason) => audit.append(seal(reason)));

    for (const outcome of await Promise.allSettled(failing)) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
    const behindIds = await Promise.all(queuedBehind);
    const lastId = await audit.append(seal('after'));
    const entries = await audit.read({ limit: 100 });
    expect(reasonsOf(entries)).toEqual(['first', 'behind-0', 'behind-1', 'behind-2', 'after']);
    expect(entries.slice(1).map((entry) => entry.id)).toEqual([...behindIds, lastId]);
    expect(verifyAuditChain(entries, { startHash: '' })).toMatchObject({ ok: true, count: 5 });
  });

  it('after a batch that was written but whose reply was lost, the next batch seals again on the head Redis holds', async () => {
    const { audit, scriptSpy, scriptCalls, writeScript } = openAudit(`${runPrefix}audit-lost-reply:`);
    await audit.append(seal('first'));
    scriptSpy.mockImplementationOnce(async (...args) => {
      await writeScript(...args);
      throw new Error('connection reset');
    });
    const lost = await Promise.allSettled(['lost-0', 'lost-1'].map((reason) => audit.append(seal(reason))));
    expect(lost.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);

    await audit.append(seal('after'));
    // Sealed first on the head this instance last wrote, which Redis no longer holds, then on Redis's.
    expect(scriptCalls()).toHaveLength(4);
    const entries = await audit.read({ limit: 100 });
    // Reported failed, yet stored: the chain holds them, and the next entry follows the last of them.
    expect(reasonsOf(entries)).toEqual(['first', 'lost-0', 'lost-1', 'after']);
    expect(verifyAuditChain(entries, { startHash: '' })).toMatchObject({ ok: true, count: 4 });
  });
});

function defined<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a value');
  return value;
}
