import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Store } from '../store/types.js';
import type { Identity } from './identity.js';
import { secretsEqual, storedFormOf } from './secret-compare.js';

/**
 * Browser login sessions, held server-side. The cookie carries a 256-bit random id; the store keeps the
 * session under the SHA-256 of that id, so a dump of the store yields no usable cookie.
 *
 * A session ends at the first of: logout, `idleTimeoutMs` without use, `absoluteTimeoutMs` after
 * sign-in, or the store losing it (fail closed). Each session has its own CSRF token, required on every
 * state-changing request that relies on the cookie.
 */
export interface LoginSession {
  identity: Identity;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface LoginSessionSettings {
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
}

/** Refresh the idle timer at most this often, so a busy page does not write on every request. */
const TOUCH_INTERVAL_MS = 60_000;

function storageKey(id: string): string {
  return storedFormOf(id);
}

export class LoginSessions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly settings: LoginSessionSettings,
  ) {}

  /** Starts a session for a freshly authenticated identity; returns the cookie value and the session. */
  async create(identity: Identity): Promise<{ id: string; session: LoginSession }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const session: LoginSession = {
      identity,
      csrfToken: randomBytes(24).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    await this.store.loginSessions.put(storageKey(id), JSON.stringify(session), this.ttl(session, now));
    return { id, session };
  }

  /** The live session named by a cookie value, or null; extends the idle timeout as a side effect. */
  async get(id: string): Promise<LoginSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = storageKey(id);
    const stored = await this.store.loginSessions.get(key);
    if (stored === null) return null;
    const session = JSON.parse(stored) as LoginSession;
    const now = this.clock.now();
    if (
      now - session.createdAt >= this.settings.absoluteTimeoutMs ||
      now - session.lastSeenAt >= this.settings.idleTimeoutMs
    ) {
      await this.store.loginSessions.delete(key);
      return null;
    }
    if (now - session.lastSeenAt >= TOUCH_INTERVAL_MS) {
      session.lastSeenAt = now;
      await this.store.loginSessions.put(key, JSON.stringify(session), this.ttl(session, now));
    }
    return session;
  }

  async destroy(id: string): Promise<void> {
    await this.store.loginSessions.delete(storageKey(id));
  }

  private ttl(session: LoginSession, now: number): number {
    return Math.min(this.settings.idleTimeoutMs, session.createdAt + this.settings.absoluteTimeoutMs - now);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfTokenMatches(session: LoginSession, presented: unknown): boolean {
  return typeof presented === 'string' && secretsEqual(session.csrfToken, presented);
}
