import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { principalId, type Identity } from '../../src/auth/identity.js';
import { ManualClock } from '../../src/clock.js';
import type { IssuedCredentials } from '../../src/credentials/credentials.js';
import { generateStoredKeySet, importKeySet, KeyRing } from '../../src/credentials/keys.js';
import { LivenessChecker } from '../../src/credentials/liveness.js';
import { CredentialMinter, MAX_DURATION_SECONDS } from '../../src/credentials/mint.js';
import {
  readRevocationKey,
  RevocationService,
  startRevocationListener,
  type RevocationRequest,
  type RevocationScopeName,
} from '../../src/credentials/revocation.js';
import { SessionVerifier } from '../../src/credentials/verify.js';
import { InvalidCredentialError, NotFoundError, ValidationError } from '../../src/errors.js';
import type { Store } from '../../src/store/types.js';
import { demoGrant, demoIdentity, demoRole } from '../support/fixtures.js';
import { memoryStoreKind, redisStoreKind, type TestStoreKind } from '../support/stores.js';

const ISSUER = 'https://fedproxy.test';
const SKEW_SECONDS = 30;
const ring = new KeyRing([importKeySet(generateStoredKeySet(new Date('2026-01-01')), '2026-01-01')]);

const alice = (): Identity => demoIdentity();
/** Shares nothing with alice: another IdP, principal, role and group. */
const bob = (): Identity =>
  demoIdentity({
    idp: 'partner',
    issuer: 'https://login.partner.example',
    subject: 'user-9',
    username: 'bob',
    groups: ['auditors'],
  });
const bobGrant = () => demoGrant({ role: demoRole({ name: 'billing-reader' }), sessionName: 'bob' });

/** One fedproxy instance's credential services on a store. */
function instance(
  store: Store,
  clock: ManualClock,
  options: { maxStalenessMs?: number; maxEntries?: number; reuseWindowSeconds?: number } = {},
) {
  const liveness = new LivenessChecker(store, clock, {
    maxStalenessMs: options.maxStalenessMs ?? 0,
    maxEntries: options.maxEntries,
  });
  return {
    store,
    liveness,
    minter: new CredentialMinter(store, ring, liveness, clock, {
      accountId: '123456789012',
      issuer: ISSUER,
      reuseWindowSeconds: options.reuseWindowSeconds ?? 0,
    }),
    verifier: new SessionVerifier(store, ring, liveness, clock, {
      issuer: ISSUER,
      maxClockSkewSeconds: SKEW_SECONDS,
    }),
    revocations: new RevocationService(store, liveness, clock, { maxClockSkewSeconds: SKEW_SECONDS }),
  };
}
type Instance = ReturnType<typeof instance>;

async function verifies(node: Instance, credentials: IssuedCredentials): Promise<boolean> {
  try {
    await node.verifier.verifySessionToken(credentials.sessionToken);
    return true;
  } catch (error) {
    if (error instanceof InvalidCredentialError) return false;
    throw error;
  }
}

/** The value that names alice's credentials in each scope. */
function aliceValue(scope: RevocationScopeName, credentials: IssuedCredentials): string | undefined {
  switch (scope) {
    case 'session':
      return credentials.sessionId;
    case 'accessKey':
      return credentials.accessKeyId;
    case 'principal':
      return principalId(alice());
    case 'role':
      return 'reports-reader';
    case 'group':
      return 'engineers';
    case 'idp':
      return 'corp';
    case 'all':
      return undefined;
  }
}

const SCOPES: RevocationScopeName[] = ['session', 'accessKey', 'principal', 'role', 'group', 'idp', 'all'];

function request(scope: RevocationScopeName, value: string | undefined): RevocationRequest {
  return { scope, ...(value === undefined ? {} : { value }), reason: 'test' };
}

describe.each([memoryStoreKind(), redisStoreKind()])('revocation ($kind store)', (kind: TestStoreKind) => {
  let clock: ManualClock;
  let store: Store;
  const stores: Store[] = [];
  const stops: (() => Promise<void>)[] = [];

  beforeEach(() => {
    // Redis expires keys in real time, so the pinned clock starts at the real now.
    clock = new ManualClock(Date.now());
    store = kind.make(clock);
    stores.push(store);
  });
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await kind.cleanup();
  });

  describe('each scope revokes what it names and nothing else', () => {
    it.each(SCOPES)('%s', async (scope) => {
      const node = instance(store, clock);
      const target = await node.minter.mintCredentials(alice(), demoGrant());
      const sibling = await node.minter.mintCredentials(alice(), demoGrant({ sessionName: 'alice-2' }));
      const other = await node.minter.mintCredentials(bob(), bobGrant());

      const result = await node.revocations.revoke(request(scope, aliceValue(scope, target)));

      expect(await verifies(node, target)).toBe(false);
      // One session (by id or access key) leaves alice's other session alone; a scope takes both.
      expect(await verifies(node, sibling)).toBe(scope === 'session' || scope === 'accessKey');
      expect(await verifies(node, other)).toBe(scope !== 'all');
      const expectedKey = {
        session: `session:${target.sessionId}`,
        accessKey: `session:${target.sessionId}`,
        principal: `principal:${principalId(alice())}`,
        role: 'role:reports-reader',
        group: 'group:engineers',
        idp: 'idp:corp',
        all: 'global',
      }[scope];
      expect(result).toMatchObject({ scope, key: expectedKey });
      expect(result.at).toBe(scope === 'session' || scope === 'accessKey' ? clock.now() : clock.now() + 1);
    });
  });

  it('an unknown session or access key is a NotFoundError', async () => {
    const node = instance(store, clock);
    await expect(node.revocations.revoke(request('session', 'no-such-session'))).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(
      node.revocations.revoke(request('accessKey', 'ASIAAAAAAAAAAAAAAAAA')),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a past issuedBefore covers only credentials issued before it', async () => {
    const node = instance(store, clock);
    const earlier = await node.minter.mintCredentials(alice(), demoGrant());
    const cut = clock.now() + 5000;
    clock.advance(10_000);
    const later = await node.minter.mintCredentials(alice(), demoGrant());
    const atCut = clock.now();

    const result = await node.revocations.revoke({
      scope: 'principal',
      value: principalId(alice()),
      issuedBefore: cut,
      reason: 'compromised laptop, from 5 s after the first sign-in',
    });
    expect(result.at).toBe(cut);
    expect(await verifies(node, earlier)).toBe(false);
    expect(await verifies(node, later)).toBe(true);

    // issuedBefore = now is allowed and is strict: a credential issued at exactly that instant survives.
    await node.revocations.revoke({
      scope: 'principal',
      value: principalId(alice()),
      issuedBefore: atCut,
      reason: 'x',
    });
    expect(await verifies(node, later)).toBe(true);
  });

  it('a future issuedBefore is refused and writes nothing', async () => {
    const node = instance(store, clock);
    const publish = vi.spyOn(store.pubsub, 'publish');
    await expect(
      node.revocations.revoke({
        scope: 'role',
        value: 'reports-reader',
        issuedBefore: clock.now() + 1,
        reason: 'x',
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await store.notBefore.get(['role:reports-reader'])).toEqual(new Map());
    expect(publish).not.toHaveBeenCalled();
  });

  it.each<[string, Record<string, unknown>]>([
    ['an unknown scope', { scope: 'user', value: 'alice' }],
    ['a missing value', { scope: 'role' }],
    ['an empty value', { scope: 'group', value: '' }],
    ['a value for scope all', { scope: 'all', value: 'x' }],
    ['a control character in the value', { scope: 'group', value: 'eng\nineers' }],
    ['an overlong value', { scope: 'group', value: 'g'.repeat(1025) }],
    ['a missing reason', { scope: 'all', reason: undefined }],
    ['a blank reason', { scope: 'all', reason: '  ' }],
    ['a control character in the reason', { scope: 'all', reason: 'a\u0000b' }],
    ['issuedBefore on a session', { scope: 'session', value: 'sid', issuedBefore: 1 }],
    ['a fractional issuedBefore', { scope: 'all', issuedBefore: 1.5 }],
    ['a string issuedBefore', { scope: 'all', issuedBefore: '1' }],
  ])('refuses %s with a ValidationError', async (_, fields) => {
    const node = instance(store, clock);
    const raise = vi.spyOn(store.notBefore, 'raise');
    await expect(
      node.revocations.revoke({ reason: 'test', ...fields } as unknown as RevocationRequest),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(raise).not.toHaveBeenCalled();
  });

  it('marks are kept until the longest credential they cover has expired', async () => {
    const node = instance(store, clock);
    const raise = vi.spyOn(store.notBefore, 'raise');
    const longest = (MAX_DURATION_SECONDS + SKEW_SECONDS) * 1000;

    const now = await node.revocations.revoke({ scope: 'role', value: 'reports-reader', reason: 'x' });
    expect(raise).toHaveBeenLastCalledWith('role:reports-reader', clock.now() + 1, longest + 1);
    expect(now.markKeptUntil).toBe(clock.now() + 1 + longest);

    const hourAgo = clock.now() - 3_600_000;
    await node.revocations.revoke({ scope: 'idp', value: 'corp', issuedBefore: hourAgo, reason: 'x' });
    expect(raise).toHaveBeenLastCalledWith('idp:corp', hourAgo, longest - 3_600_000);

    if (kind.kind === 'memory') {
      // The memory store expires by the pinned clock: a 12-hour credential issued just before the mark
      // is still refused a moment before it expires.
      const role = demoRole({ maxSessionDuration: MAX_DURATION_SECONDS });
      clock.advance(1);
      const twelveHours = await node.minter.mintCredentials(
        alice(),
        demoGrant({ role, durationSeconds: MAX_DURATION_SECONDS }),
      );
      await node.revocations.revoke({ scope: 'principal', value: principalId(alice()), reason: 'x' });
      clock.set(twelveHours.expiration.getTime() - 1);
      expect(await verifies(node, twelveHours)).toBe(false);
      expect(await store.notBefore.get([`principal:${principalId(alice())}`])).toHaveProperty('size', 1);
    }
  });

  describe('bounded staleness (maxStalenessMs = 1000, pinned clock)', () => {
    it('reuses a live answer for under 1000 ms, asks again after, and honours its own revoke at once', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000 });
      const credentials = await node.minter.mintCredentials(alice(), demoGrant());
      const reads = vi.spyOn(store.notBefore, 'get');

      expect(await verifies(node, credentials)).toBe(true);
      expect(reads).toHaveBeenCalledTimes(1);
      clock.advance(999);
      expect(await verifies(node, credentials)).toBe(true);
      expect(reads).toHaveBeenCalledTimes(1);
      clock.advance(1);
      expect(await verifies(node, credentials)).toBe(true);
      expect(reads).toHaveBeenCalledTimes(2);

      // The answer is cached again; revoke() on this instance still takes effect before it returns.
      await node.revocations.revoke({ scope: 'group', value: 'engineers', reason: 'x' });
      expect(await verifies(node, credentials)).toBe(false);
    });

    it('a mark written elsewhere without a message is honoured once the cached answer is 1000 ms old', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000 });
      const credentials = await node.minter.mintCredentials(alice(), demoGrant());
      expect(await verifies(node, credentials)).toBe(true);
      await store.notBefore.raise('role:reports-reader', clock.now() + 1, 60_000);
      clock.advance(999);
      expect(await verifies(node, credentials)).toBe(true); // within the staleness bound
      clock.advance(1);
      expect(await verifies(node, credentials)).toBe(false);
    });

    it('holds at most maxEntries answers: a third live session drops the oldest', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000, maxEntries: 2 });
      const sessions = [
        await node.minter.mintCredentials(alice(), demoGrant()),
        await node.minter.mintCredentials(alice(), demoGrant({ sessionName: 'alice-2' })),
        await node.minter.mintCredentials(bob(), bobGrant()),
      ];
      const cached: number[] = [];
      for (const credentials of sessions) {
        expect(await verifies(node, credentials)).toBe(true);
        cached.push(node.liveness.cachedSessions);
      }
      expect(cached).toEqual([1, 2, 2]);
      // The two newest answers are served from the cache; the oldest is asked for again.
      const reads = vi.spyOn(store.notBefore, 'get');
      expect(await verifies(node, sessions[2]!)).toBe(true);
      expect(await verifies(node, sessions[1]!)).toBe(true);
      expect(reads).not.toHaveBeenCalled();
      expect(await verifies(node, sessions[0]!)).toBe(true);
      expect(reads).toHaveBeenCalledTimes(1);
      expect(node.liveness.cachedSessions).toBe(2);
    });

    it('a one-session revoke is never served from the cache', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000 });
      const credentials = await node.minter.mintCredentials(alice(), demoGrant());
      expect(await verifies(node, credentials)).toBe(true);
      // Written straight to the store, no invalidation: the record is read on every verification.
      await store.sessions.revoke(credentials.sessionId, clock.now());
      expect(await verifies(node, credentials)).toBe(false);
    });

    it('a negative answer is not cached', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000 });
      const credentials = await node.minter.mintCredentials(alice(), demoGrant());
      await node.revocations.revoke({ scope: 'all', reason: 'x' });
      expect(await verifies(node, credentials)).toBe(false);
      expect(node.liveness.cachedSessions).toBe(0);
    });

    it('a check that read the store before a revoke does not cache its stale answer', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000 });
      const credentials = await node.minter.mintCredentials(alice(), demoGrant());
      const read = store.notBefore.get.bind(store.notBefore);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      vi.spyOn(store.notBefore, 'get').mockImplementationOnce(async (scopes) => {
        const marks = await read(scopes); // the marks as they were before the revoke
        entered();
        await gate;
        return marks;
      });

      const inFlight = verifies(node, credentials);
      await inside;
      await node.revocations.revoke({ scope: 'role', value: 'reports-reader', reason: 'x' });
      release();
      expect(await inFlight).toBe(true); // started before the revoke: either answer is allowed
      expect(node.liveness.cachedSessions).toBe(0);
      expect(await verifies(node, credentials)).toBe(false);
    });
  });

  describe('reuse', () => {
    it.each<RevocationScopeName>(['session', 'principal'])(
      'never hands out a session revoked by %s scope; the next mint is a new, valid session',
      async (scope) => {
        const node = instance(store, clock, { maxStalenessMs: 1000, reuseWindowSeconds: 300 });
        const first = await node.minter.mintCredentials(alice(), demoGrant());
        expect((await node.minter.mintCredentials(alice(), demoGrant())).sessionId).toBe(first.sessionId);

        await node.revocations.revoke(request(scope, aliceValue(scope, first)));
        clock.advance(1);
        const next = await node.minter.mintCredentials(alice(), demoGrant());
        expect(next.sessionId).not.toBe(first.sessionId);
        expect(next.reused).toBe(false);
        expect(await verifies(node, next)).toBe(true);
        expect(await verifies(node, first)).toBe(false);
      },
    );

    it("checks the marks of the session's own groups, also one the user has left since", async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000, reuseWindowSeconds: 300 });
      const first = await node.minter.mintCredentials(
        demoIdentity({ groups: ['engineers', 'old-team'] }),
        demoGrant(),
      );
      await node.revocations.revoke(request('group', 'old-team'));
      clock.advance(1);
      const next = await node.minter.mintCredentials(demoIdentity({ groups: ['engineers'] }), demoGrant());
      expect(next.sessionId).not.toBe(first.sessionId);
    });

    it('ignores a mark on a group the user joined after the session was minted', async () => {
      const node = instance(store, clock, { maxStalenessMs: 1000, reuseWindowSeconds: 300 });
      const first = await node.minter.mintCredentials(demoIdentity({ groups: ['engineers'] }), demoGrant());
      await node.revocations.revoke(request('group', 'new-team'));
      clock.advance(1);
      const next = await node.minter.mintCredentials(
        demoIdentity({ groups: ['engineers', 'new-team'] }),
        demoGrant(),
      );
      expect(next.sessionId).toBe(first.sessionId);
      expect(next.reused).toBe(true);
    });
  });

  describe('two instances on one store', () => {
    const STALENESS = 1000;

    function twoInstances(): { a: Instance; b: Instance } {
      // Redis: a second Store object (its own connections) on the same key prefix. Memory: in-process
      // instances share the one store object, each with its own liveness cache and listener.
      const storeB = kind.twin?.(clock) ?? store;
      if (storeB !== store) stores.push(storeB);
      return {
        a: instance(store, clock, { maxStalenessMs: STALENESS }),
        b: instance(storeB, clock, { maxStalenessMs: STALENESS }),
      };
    }

    it('a revoke on A is refused on B within maxStalenessMs, by pub/sub (lag measured)', async () => {
      const { a, b } = twoInstances();
      stops.push(await startRevocationListener(a.store, a.liveness));
      stops.push(await startRevocationListener(b.store, b.liveness));
      const lags: Record<string, number> = {};

      for (const scope of SCOPES) {
        clock.advance(1); // after the previous scope's mark
        const credentials = await a.minter.mintCredentials(alice(), demoGrant());
        expect(await verifies(b, credentials)).toBe(true); // B now holds a cached live answer
        expect(b.liveness.cachedSessions).toBeGreaterThan(0);

        await a.revocations.revoke(request(scope, aliceValue(scope, credentials)));
        expect(await verifies(a, credentials)).toBe(false);
        // The pinned clock never ages B's cache: only the published message can make B refuse.
        const started = performance.now();
        while (await verifies(b, credentials)) {
          expect(performance.now() - started).toBeLessThan(STALENESS);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        lags[scope] = Math.round((performance.now() - started) * 100) / 100;
      }
      console.log(`revocation propagation lag A -> B (${kind.kind} store, ms):`, lags);
    });

    it('without the listener, B refuses once its cached answer is maxStalenessMs old', async () => {
      const { a, b } = twoInstances();
      const credentials = await a.minter.mintCredentials(alice(), demoGrant());
      expect(await verifies(b, credentials)).toBe(true);
      await a.revocations.revoke({ scope: 'principal', value: principalId(alice()), reason: 'x' });
      clock.advance(STALENESS - 1);
      expect(await verifies(b, credentials)).toBe(true); // allowed: within the staleness bound
      clock.advance(1);
      expect(await verifies(b, credentials)).toBe(false);
    });

    it('a mint on B right after a revoke on A does not reuse the revoked session, even with a stale cache', async () => {
      const storeB = kind.twin?.(clock) ?? store;
      if (storeB !== store) stores.push(storeB);
      const a = instance(store, clock, { maxStalenessMs: STALENESS, reuseWindowSeconds: 300 });
      // No listener on B: reuse must not depend on the message arriving.
      const b = instance(storeB, clock, { maxStalenessMs: STALENESS, reuseWindowSeconds: 300 });
      const first = await b.minter.mintCredentials(alice(), demoGrant());
      expect((await b.minter.mintCredentials(alice(), demoGrant())).reused).toBe(true);
      expect(await verifies(b, first)).toBe(true); // B caches it live

      await a.revocations.revoke(request('role', 'reports-reader'));
      clock.advance(1);
      expect(b.liveness.cachedSessions).toBe(1); // B still holds its (now stale) live answer
      const next = await b.minter.mintCredentials(alice(), demoGrant());
      expect(next.sessionId).not.toBe(first.sessionId);
      expect(await verifies(b, next)).toBe(true);
    });
  });
});

describe('revocation messages', () => {
  it('reads the key of a message and treats anything else as "drop everything"', () => {
    expect(readRevocationKey(JSON.stringify({ v: 1, key: 'role:admin', at: 1 }))).toBe('role:admin');
    expect(readRevocationKey('not json')).toBeUndefined();
    expect(readRevocationKey(JSON.stringify({ v: 1, key: 7 }))).toBeUndefined();
    expect(readRevocationKey('null')).toBeUndefined();
  });
});
