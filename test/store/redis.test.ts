import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { Config } from '../../src/config/schema.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
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

  it('keeps every key under its prefix; sessions and their indexes expire, an index with its longest member', async () => {
    const keyPrefix = `${runPrefix}layout:`;
    const store = createStore(storeConfig({ keyPrefix }), { clock: systemClock });
    try {
      const now = Date.now();
      const base = {
        kid: 'k1',
        principal: 'p-a',
        idp: 'corp',
        issuer: 'https://login.corp.example',
        subject: 'a',
        username: 'a',
        groups: ['g'],
        role: 'r',
        sessionName: 'a',
        policy: '{}',
        policyHash: 'ph',
        issuedAt: now,
      };
      await store.sessions.create({ ...base, sid: 's-long', akid: 'ASIALONG', expiresAt: now + 20_000 });
      await store.sessions.create({ ...base, sid: 's-short', akid: 'ASIASHORT', expiresAt: now + 10_000 });
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
          'sess:s-long',
          'sess:s-short',
          'akid:ASIALONG',
          'akid:ASIASHORT',
          'idx:all',
          'idx:principal:p-a',
          'idx:role:r',
          'idx:idp:corp',
          'idx:group:g',
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
      expect(await ttl('sess:s-short')).toBeGreaterThan(8_000);
      expect(await ttl('sess:s-short')).toBeLessThanOrEqual(10_000);
      expect(await ttl('akid:ASIASHORT')).toBeLessThanOrEqual(10_000);
      for (const index of ['idx:all', 'idx:role:r', 'idx:group:g']) {
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
