import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { principalId } from '../../src/auth/identity.js';
import { ManualClock } from '../../src/clock.js';
import { generateStoredKeySet, importKeySet, KeyRing } from '../../src/credentials/keys.js';
import { LivenessChecker, scopeKey } from '../../src/credentials/liveness.js';
import { CredentialMinter, policyHash } from '../../src/credentials/mint.js';
import { readSessionToken, signSessionToken } from '../../src/credentials/session-token.js';
import { SessionVerifier } from '../../src/credentials/verify.js';
import { AccessDeniedError, InvalidCredentialError, ValidationError } from '../../src/errors.js';
import { instrumentStore } from '../../src/store/instrumented.js';
import type { Store } from '../../src/store/types.js';
import { demoGrant, demoIdentity, demoRole } from '../support/fixtures.js';
import { memoryStoreKind, redisStoreKind, type TestStoreKind } from '../support/stores.js';

const ISSUER = 'https://fedproxy.test';
const settings = { accountId: '123456789012', issuer: ISSUER, reuseWindowSeconds: 300 };
const keySet = (date: string) => importKeySet(generateStoredKeySet(new Date(date)), date);

describe.each([memoryStoreKind(), redisStoreKind()])(
  'mint and verify ($kind store)',
  (kind: TestStoreKind) => {
    let clock: ManualClock;
    let store: Store;
    const stores: Store[] = [];

    function services(ring: KeyRing, options: { reuseWindowSeconds?: number } = {}) {
      const liveness = new LivenessChecker(store, clock);
      return {
        minter: new CredentialMinter(store, ring, liveness, clock, { ...settings, ...options }),
        verifier: new SessionVerifier(store, ring, liveness, clock, {
          issuer: ISSUER,
          maxClockSkewSeconds: 30,
        }),
      };
    }

    beforeEach(() => {
      // Redis expires keys in real time, so the pinned clock starts at the real now.
      clock = new ManualClock(Date.now());
      store = kind.make(clock);
      stores.push(store);
    });
    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await kind.cleanup();
    });

    it('a minted credential verifies and names its session, role and principal', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const identity = demoIdentity();
      const credentials = await minter.mintCredentials(identity, demoGrant());
      expect(credentials.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
      expect(credentials.secretAccessKey).toHaveLength(40);
      expect(credentials.expiration.getTime()).toBe(clock.now() + 900_000);
      expect(credentials.roleArn).toBe('arn:aws:iam::123456789012:role/reports-reader');
      expect(credentials.assumedRoleUser.arn).toBe(
        'arn:aws:sts::123456789012:assumed-role/reports-reader/alice',
      );
      const verified = await verifier.verifySessionToken(credentials.sessionToken);
      expect(verified.record).toMatchObject({
        sid: credentials.sessionId,
        akid: credentials.accessKeyId,
        principal: principalId(identity),
        role: 'reports-reader',
        username: 'alice',
      });
      expect(verifier.secretAccessKeyOf(verified.record)).toBe(credentials.secretAccessKey);
    });

    it('an expired credential fails with ExpiredToken', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
      clock.advance(900_000);
      await expect(verifier.verifySessionToken(credentials.sessionToken)).rejects.toMatchObject({
        code: 'ExpiredToken',
      });
    });

    it('a token from another issuer fails even when signed with our key', async () => {
      const ring = new KeyRing([keySet('2026-01-01T00:00:00Z')]);
      const liveness = new LivenessChecker(store, clock);
      const foreign = new CredentialMinter(store, ring, liveness, clock, {
        ...settings,
        issuer: 'https://other',
      });
      const credentials = await foreign.mintCredentials(demoIdentity(), demoGrant());
      await expect(
        services(ring).verifier.verifySessionToken(credentials.sessionToken),
      ).rejects.toBeInstanceOf(InvalidCredentialError);
    });

    // Each row changes one claim the session record also holds; the token is signed with the ring's own
    // key, so it is well formed, validly signed, current and names a live session: only the comparison
    // of token and record can refuse it.
    it.each([
      ['role', 'platform-admin'],
      ['ph', policyHash('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', undefined)],
      ['akid', 'ASIAAAAAAAAAAAAAAAAA'],
      ['sub', principalId(demoIdentity({ subject: 'someone-else' }))],
    ] as const)(
      'a token signed with our key for an existing session but another %s fails with InvalidClientTokenId',
      async (claim, value) => {
        const ring = new KeyRing([keySet('2026-01-01T00:00:00Z')]);
        const { minter, verifier } = services(ring);
        const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
        const { claims } = await readSessionToken(credentials.sessionToken, ring);
        expect(claims[claim]).not.toBe(value);
        const forged = await signSessionToken(
          { ...claims, [claim]: value },
          ring.current.kid,
          ring.current.signingKey,
        );
        await expect(verifier.verifySessionToken(forged)).rejects.toMatchObject({
          code: 'InvalidClientTokenId',
        });
        await expect(verifier.verifySessionToken(credentials.sessionToken)).resolves.toBeDefined();
      },
    );

    it("a session's claims re-signed under another key set of the ring fail with InvalidClientTokenId", async () => {
      const old = keySet('2026-01-01T00:00:00Z');
      const credentials = await services(new KeyRing([old])).minter.mintCredentials(
        demoIdentity(),
        demoGrant(),
      );
      const rotated = keySet('2026-02-01T00:00:00Z');
      const ring = new KeyRing([old, rotated]);
      const { claims } = await readSessionToken(credentials.sessionToken, ring);
      const resigned = await signSessionToken(claims, rotated.kid, rotated.signingKey);
      const { verifier } = services(ring);
      await expect(verifier.verifySessionToken(resigned)).rejects.toMatchObject({
        code: 'InvalidClientTokenId',
      });
      await expect(verifier.verifySessionToken(credentials.sessionToken)).resolves.toBeDefined();
    });

    it('a credential whose key set left the ring fails; one of a retired-but-present kid still verifies', async () => {
      const old = keySet('2026-01-01T00:00:00Z');
      const credentials = await services(new KeyRing([old])).minter.mintCredentials(
        demoIdentity(),
        demoGrant(),
      );
      const rotated = keySet('2026-02-01T00:00:00Z');
      const afterRotation = services(new KeyRing([old, rotated]));
      await expect(
        afterRotation.verifier.verifySessionToken(credentials.sessionToken),
      ).resolves.toBeDefined();
      const fresh = await afterRotation.minter.mintCredentials(
        demoIdentity({ subject: 'other' }),
        demoGrant(),
      );
      expect(JSON.parse(Buffer.from(fresh.sessionToken.split('.')[0]!, 'base64url').toString()).kid).toBe(
        rotated.kid,
      );
      await expect(
        services(new KeyRing([rotated])).verifier.verifySessionToken(credentials.sessionToken),
      ).rejects.toMatchObject({ code: 'InvalidClientTokenId' });
    });

    it('a token verified before is still checked against time, its record and liveness on every call', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const revoked = await minter.mintCredentials(demoIdentity(), demoGrant());
      await verifier.verifySessionToken(revoked.sessionToken);
      await store.sessions.revoke(revoked.sessionId, clock.now());
      await expect(verifier.verifySessionToken(revoked.sessionToken)).rejects.toMatchObject({
        code: 'InvalidClientTokenId',
      });
      const expiring = await minter.mintCredentials(demoIdentity({ subject: 'bob' }), demoGrant());
      await verifier.verifySessionToken(expiring.sessionToken);
      clock.advance(900_000);
      await expect(verifier.verifySessionToken(expiring.sessionToken)).rejects.toMatchObject({
        code: 'ExpiredToken',
      });
    });

    it('a verified token is remembered by its exact text: an altered signature still fails', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
      await verifier.verifySessionToken(credentials.sessionToken);
      const [header, claims, signature] = credentials.sessionToken.split('.') as [string, string, string];
      const flipped = Buffer.from(signature, 'base64url');
      flipped[0] = flipped[0]! ^ 1;
      await expect(
        verifier.verifySessionToken(`${header}.${claims}.${flipped.toString('base64url')}`),
      ).rejects.toMatchObject({ code: 'InvalidClientTokenId' });
    });

    it('a revoked session fails', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
      await store.sessions.revoke(credentials.sessionId, clock.now());
      await expect(verifier.verifySessionToken(credentials.sessionToken)).rejects.toMatchObject({
        code: 'InvalidClientTokenId',
      });
    });

    it.each([
      ['global', () => scopeKey({ kind: 'global' })],
      ['idp', () => scopeKey({ kind: 'idp', idp: 'corp' })],
      ['principal', () => scopeKey({ kind: 'principal', principal: principalId(demoIdentity()) })],
      ['role', () => scopeKey({ kind: 'role', role: 'reports-reader' })],
      ['group', () => scopeKey({ kind: 'group', group: 'engineers' })],
    ])(
      'a not-before mark on the %s scope invalidates credentials issued before it, not after',
      async (_, scope) => {
        const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]), {
          reuseWindowSeconds: 0,
        });
        const before = await minter.mintCredentials(demoIdentity(), demoGrant());
        clock.advance(1000);
        await store.notBefore.raise(scope(), clock.now(), 3_600_000);
        await expect(verifier.verifySessionToken(before.sessionToken)).rejects.toBeInstanceOf(
          InvalidCredentialError,
        );
        const after = await minter.mintCredentials(demoIdentity(), demoGrant());
        await expect(verifier.verifySessionToken(after.sessionToken)).resolves.toBeDefined();
      },
    );

    it('a mark on another user, role or group leaves the credential alone', async () => {
      const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
      clock.advance(1000);
      for (const scope of [
        scopeKey({ kind: 'principal', principal: principalId(demoIdentity({ subject: 'someone-else' })) }),
        scopeKey({ kind: 'role', role: 'other-role' }),
        scopeKey({ kind: 'group', group: 'analysts' }),
        scopeKey({ kind: 'idp', idp: 'adfs' }),
      ]) {
        await store.notBefore.raise(scope, clock.now(), 3_600_000);
      }
      await expect(verifier.verifySessionToken(credentials.sessionToken)).resolves.toBeDefined();
    });

    it.each([899, 3601, 1000.5, Number.NaN, 1e21])(
      'a duration of %s is a ValidationError, never clamped',
      async (duration) => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        await expect(
          minter.mintCredentials(demoIdentity(), demoGrant({ durationSeconds: duration })),
        ).rejects.toBeInstanceOf(ValidationError);
      },
    );

    it('credentials never outlive the IdP token they are bound to, and a nearly expired binding is refused', async () => {
      const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
      const notAfter = clock.now() + 600_000;
      const bound = await minter.mintCredentials(demoIdentity(), demoGrant({ durationSeconds: 3600 }), {
        notAfter,
      });
      expect(bound.expiration.getTime()).toBe(notAfter);
      await expect(
        minter.mintCredentials(demoIdentity(), demoGrant(), { notAfter: clock.now() + 30_000 }),
      ).rejects.toBeInstanceOf(AccessDeniedError);
    });

    describe('reuse', () => {
      it('the same principal, role, policy and duration within the window gets the same credentials back', async () => {
        const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const first = await minter.mintCredentials(demoIdentity(), demoGrant());
        clock.advance(60_000);
        const second = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(first.reused).toBe(false);
        expect(second).toEqual({ ...first, reused: true });
        await expect(verifier.verifySessionToken(second.sessionToken)).resolves.toBeDefined();
      });

      it('a different duration, session policy, session name or principal gets its own session', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const base = await minter.mintCredentials(demoIdentity(), demoGrant());
        const variants = await Promise.all([
          minter.mintCredentials(demoIdentity(), demoGrant({ durationSeconds: 1800 })),
          minter.mintCredentials(
            demoIdentity(),
            demoGrant({
              sessionPolicy: {
                Version: '2012-10-17',
                Statement: [{ Effect: 'Allow', Action: 'reports:GetA', Resource: '*' }],
              },
            }),
          ),
          minter.mintCredentials(demoIdentity(), demoGrant({ sessionName: 'alice-ci' })),
          minter.mintCredentials(demoIdentity({ subject: 'bob' }), demoGrant()),
        ]);
        expect(new Set([base, ...variants].map((c) => c.sessionId)).size).toBe(5);
      });

      it('after the window a new session is minted', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const first = await minter.mintCredentials(demoIdentity(), demoGrant());
        clock.advance(301_000);
        if (kind.kind === 'redis') await kind.deleteKeysMatching!('*reuse*'); // Redis TTLs run on real time
        const second = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(second.sessionId).not.toBe(first.sessionId);
      });

      it('a revoked session is never handed out again', async () => {
        const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const first = await minter.mintCredentials(demoIdentity(), demoGrant());
        clock.advance(1000);
        await store.notBefore.raise(
          scopeKey({ kind: 'principal', principal: principalId(demoIdentity()) }),
          clock.now(),
          3_600_000,
        );
        const second = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(second.sessionId).not.toBe(first.sessionId);
        expect(second.reused).toBe(false);
        await expect(verifier.verifySessionToken(second.sessionToken)).resolves.toBeDefined();
      });

      it('a burst of concurrent requests converges on one session', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const all = await Promise.all(
          Array.from({ length: 25 }, () => minter.mintCredentials(demoIdentity(), demoGrant())),
        );
        expect(new Set(all.map((c) => c.sessionId)).size).toBe(1);
      });

      it('a burst across two instances converges on one session', async () => {
        const ring = new KeyRing([keySet('2026-01-01T00:00:00Z')]);
        const twin = kind.twin?.(clock) ?? store;
        if (twin !== store) stores.push(twin);
        const minters = [store, twin].map(
          (on) => new CredentialMinter(on, ring, new LivenessChecker(on, clock), clock, settings),
        );
        const all = await Promise.all(
          Array.from({ length: 24 }, (_, i) => minters[i % 2]!.mintCredentials(demoIdentity(), demoGrant())),
        );
        expect(new Set(all.map((c) => c.sessionId)).size).toBe(1);
        expect(all.filter((c) => !c.reused)).toHaveLength(1);
      });

      it('a mint that finds the pointer claimed but the session not yet written waits for that session', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const create = store.sessions.create.bind(store.sessions);
        const slowCreate = vi.spyOn(store.sessions, 'create').mockImplementationOnce(async (record) => {
          await sleep(25);
          await create(record);
        });
        const first = minter.mintCredentials(demoIdentity(), demoGrant());
        await sleep(5);
        const second = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(second).toEqual({ ...(await first), reused: true });
        expect(slowCreate).toHaveBeenCalledTimes(1);
      });

      it('a pointer to a session revoked one by one is replaced, and the replacement is reused', async () => {
        const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const first = await minter.mintCredentials(demoIdentity(), demoGrant());
        await store.sessions.revoke(first.sessionId, clock.now());
        clock.advance(1000);
        const second = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(second.sessionId).not.toBe(first.sessionId);
        expect(second.reused).toBe(false);
        const third = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(third).toEqual({ ...second, reused: true });
        await expect(verifier.verifySessionToken(third.sessionToken)).resolves.toBeDefined();
      });

      it('a new session takes the claim and the create; a reused one the claim, the record and its marks', async () => {
        const operations: string[] = [];
        const observed = instrumentStore(store, {
          storeOperation: (operation) => operations.push(operation),
        });
        const ring = new KeyRing([keySet('2026-01-01T00:00:00Z')]);
        const minter = new CredentialMinter(
          observed,
          ring,
          new LivenessChecker(observed, clock),
          clock,
          settings,
        );
        await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(operations.splice(0)).toEqual(['once.claim', 'sessions.create']);
        await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(operations.splice(0)).toEqual(['once.claim', 'sessions.get', 'notBefore.get']);
      });

      it('reuse can be turned off', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]), { reuseWindowSeconds: 0 });
        const a = await minter.mintCredentials(demoIdentity(), demoGrant());
        const b = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(a.sessionId).not.toBe(b.sessionId);
      });
    });

    if (kind.kind === 'redis') {
      it('fails closed when the session record is lost from Redis', async () => {
        const { minter, verifier } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const credentials = await minter.mintCredentials(demoIdentity(), demoGrant());
        expect(await kind.deleteKeysMatching!(`*${credentials.sessionId}*`)).toBeGreaterThan(0);
        await expect(verifier.verifySessionToken(credentials.sessionToken)).rejects.toMatchObject({
          code: 'InvalidClientTokenId',
        });
      });

      it('no derived secret (nor a prefix of one) is anywhere in Redis', async () => {
        const { minter } = services(new KeyRing([keySet('2026-01-01T00:00:00Z')]));
        const secrets: string[] = [];
        for (let i = 0; i < 5; i++) {
          const c = await minter.mintCredentials(
            demoIdentity({ subject: `user-${i}` }),
            demoGrant({ role: demoRole({ name: `role-${i}` }) }),
          );
          secrets.push(c.secretAccessKey);
        }
        const dump = (await kind.dump!()).join('\n');
        expect(dump.length).toBeGreaterThan(0);
        for (const secret of secrets) expect(dump).not.toContain(secret.slice(0, 12));
      });
    }
  },
);
