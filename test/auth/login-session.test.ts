import { describe, expect, it } from 'vitest';
import { LoginSessions, csrfTokenMatches } from '../../src/auth/login-session.js';
import { ManualClock } from '../../src/clock.js';
import { demoIdentity } from '../support/fixtures.js';
import { memoryStoreKind } from '../support/stores.js';

const MINUTE = 60_000;

function sessions(clock: ManualClock) {
  const store = memoryStoreKind().make(clock);
  return {
    store,
    loginSessions: new LoginSessions(store, clock, {
      idleTimeoutMs: 30 * MINUTE,
      absoluteTimeoutMs: 120 * MINUTE,
    }),
  };
}

describe('login sessions', () => {
  it('stores the session under a hash of the cookie value, never the value itself', async () => {
    const clock = new ManualClock();
    const { store, loginSessions } = sessions(clock);
    const { id, session } = await loginSessions.create(demoIdentity());
    expect(id).toMatch(/^[\w-]{43}$/);
    expect(await store.loginSessions.get(id)).toBeNull();
    expect((await loginSessions.get(id))?.identity.username).toBe('alice');
    expect(session.csrfToken).toMatch(/^[\w-]{32}$/);
  });

  it('ends after the idle timeout without use, and use keeps it alive', async () => {
    const clock = new ManualClock();
    const { loginSessions } = sessions(clock);
    const { id } = await loginSessions.create(demoIdentity());
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * MINUTE);
      expect(await loginSessions.get(id)).not.toBeNull();
    }
    clock.advance(30 * MINUTE);
    expect(await loginSessions.get(id)).toBeNull();
  });

  it('ends at the absolute timeout however busy it is', async () => {
    const clock = new ManualClock();
    const { loginSessions } = sessions(clock);
    const { id } = await loginSessions.create(demoIdentity());
    for (let elapsed = 10; elapsed < 120; elapsed += 10) {
      clock.advance(10 * MINUTE);
      expect(await loginSessions.get(id), `after ${elapsed} min`).not.toBeNull();
    }
    clock.advance(10 * MINUTE);
    expect(await loginSessions.get(id)).toBeNull();
  });

  it('ends at logout, and ignores malformed cookie values', async () => {
    const clock = new ManualClock();
    const { loginSessions } = sessions(clock);
    const { id } = await loginSessions.create(demoIdentity());
    await loginSessions.destroy(id);
    expect(await loginSessions.get(id)).toBeNull();
    for (const bad of ['', 'x', `${id}x`, '../../etc', 'a'.repeat(43).replace('a', '$')]) {
      expect(await loginSessions.get(bad)).toBeNull();
    }
  });

  it('compares CSRF tokens in full', async () => {
    const clock = new ManualClock();
    const { loginSessions } = sessions(clock);
    const { session } = await loginSessions.create(demoIdentity());
    expect(csrfTokenMatches(session, session.csrfToken)).toBe(true);
    expect(csrfTokenMatches(session, session.csrfToken.slice(0, -1))).toBe(false);
    expect(csrfTokenMatches(session, `${session.csrfToken}x`)).toBe(false);
    expect(csrfTokenMatches(session, undefined)).toBe(false);
    expect(csrfTokenMatches(session, ['a'])).toBe(false);
  });
});
