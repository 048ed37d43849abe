import { systemClock, type Clock } from '../clock.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { Store } from '../store/types.js';
import { scopeKey, sessionKey, type LivenessChecker, type RevocationScope } from './liveness.js';
import { sessionIdFor } from './access-keys.js';
import { MAX_DURATION_SECONDS } from './mint.js';

/** The channel every instance listens on; the store prefixes it, so deployments sharing a Redis stay apart. */
export const REVOCATION_CHANNEL = 'revocations';

export const REVOCATION_SCOPES = [
  'session',
  'accessKey',
  'principal',
  'role',
  'group',
  'idp',
  'all',
] as const;
export type RevocationScopeName = (typeof REVOCATION_SCOPES)[number];

export interface RevocationRequest {
  scope: RevocationScopeName;
  /** The sid, access key id, principal id, role name, group name or IdP id; absent for `all`. */
  value?: string;
  /**
   * Scopes other than session/accessKey: revoke credentials issued strictly before this instant (ms).
   * Must not be in the future. Absent: everything issued up to and including now.
   */
  issuedBefore?: number;
  /** Why; for the caller's audit record. Required. */
  reason: string;
}

export interface RevocationResult {
  scope: RevocationScopeName;
  /** `session:<sid>` (also for accessKey), or the not-before scope key (`principal:<id>`, `global`, ...). */
  key: string;
  /** The session's revocation time, or the not-before mark. */
  at: number;
  /** For marks: the mark is kept at least until this instant (every credential it covers has expired by then). */
  markKeptUntil?: number;
}

/** What is published on REVOCATION_CHANNEL. Receivers treat anything they cannot read as "drop everything". */
export interface RevocationMessage {
  v: 1;
  key: string;
  at: number;
}

export interface RevocationSettings {
  /** The verifiers' clock-skew leeway; marks are kept this much longer than the longest credential. */
  maxClockSkewSeconds: number;
}

/** Told of revocations; `Metrics` implements it. Must not throw. */
export interface RevocationObserver {
  /** This instance took a revocation (its write stands, whether or not the fan-out publish then failed). */
  revoked(scope: RevocationScopeName): void;
  /**
   * A published revocation reached this instance `lagSeconds` after the revoking instance took it
   * (`now - message.at`, so it includes the clock difference between the two; never negative).
   */
  revocationReceived(lagSeconds: number): void;
}

export interface RevocationListenerOptions {
  /** Told how long each readable message took to arrive. */
  observer?: Pick<RevocationObserver, 'revocationReceived'>;
  /** This instance's clock, for the lag (default: the system clock). */
  clock?: Clock;
}

const MAX_VALUE_LENGTH = 1024;
const MAX_REASON_LENGTH = 1024;
// C0 controls, DEL and C1 controls: never part of an id, and a log/audit injection risk.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Revokes one session, one access key, or every credential of a principal, role, group, IdP or of
 * everyone issued before an instant.
 *
 * Contract:
 * - When `revoke` resolves, the revocation is written to the store, this instance's liveness cache has
 *   been cleared of what it affects (synchronously, after the write), and the fan-out message has been
 *   published. So no verification that starts on this instance after `revoke` resolves succeeds for a
 *   revoked credential; other instances stop accepting it within `revocation.maxStalenessMs` (their cache
 *   bound), usually sooner through the published message.
 * - Not-before marks outlive every credential they cover: kept for issuedBefore + the longest credential
 *   lifetime + the clock-skew leeway, and the store never lowers a mark or shortens its lifetime.
 * - If publishing fails after the write, `revoke` rejects although the revocation stands (other instances
 *   then honour it within maxStalenessMs); revoking again is harmless.
 * Instances' clocks must agree within the skew leeway: a mark compares against `issuedAt` times written by
 * whichever instance minted the credential.
 */
export class RevocationService {
  constructor(
    private readonly store: Store,
    private readonly liveness: LivenessChecker,
    private readonly clock: Clock,
    private readonly settings: RevocationSettings,
    private readonly observer?: Pick<RevocationObserver, 'revoked'>,
  ) {}

  async revoke(request: RevocationRequest): Promise<RevocationResult> {
    const { scope, value } = validate(request);
    const now = this.clock.now();
    let result: RevocationResult;
    if (scope === 'session' || scope === 'accessKey') {
      if (request.issuedBefore !== undefined) {
        throw new ValidationError(`issuedBefore does not apply to scope ${scope}`);
      }
      const sid = scope === 'session' ? value : sessionIdFor(value);
      if (sid === undefined || !(await this.store.sessions.revoke(sid, now))) {
        throw new NotFoundError(scope === 'session' ? 'No such session' : 'No such access key');
      }
      result = { scope, key: sessionKey(sid), at: now };
    } else {
      // Default: now + 1, because a mark revokes what was issued strictly *before* it, and a credential
      // minted earlier within this same millisecond must not survive "revoke everything up to now".
      const issuedBefore = request.issuedBefore ?? now + 1;
      if (!Number.isSafeInteger(issuedBefore) || issuedBefore < 0) {
        throw new ValidationError('issuedBefore must be a time in milliseconds since the epoch');
      }
      if (request.issuedBefore !== undefined && issuedBefore > now) {
        throw new ValidationError('issuedBefore must not be in the future');
      }
      const key = scopeKey(toScope(scope, value));
      // A covered credential was issued before `issuedBefore` and lives at most MAX_DURATION_SECONDS.
      const markKeptUntil =
        issuedBefore + MAX_DURATION_SECONDS * 1000 + this.settings.maxClockSkewSeconds * 1000;
      // An old issuedBefore can cover only credentials that have all expired; the mark still gets written
      // (with a short life) so the result is what was asked.
      await this.store.notBefore.raise(key, issuedBefore, Math.max(markKeptUntil - now, 1000));
      result = { scope, key, at: issuedBefore, markKeptUntil };
    }
    // Security: clear the local cache after the write and before returning (not only via pub/sub, which
    // is asynchronous and at-most-once), so this instance honours the revocation as soon as we return.
    this.liveness.invalidate(result.key);
    const message: RevocationMessage = { v: 1, key: result.key, at: now };
    try {
      await this.store.pubsub.publish(REVOCATION_CHANNEL, JSON.stringify(message));
    } finally {
      this.observer?.revoked(scope);
    }
    return result;
  }
}

/**
 * Subscribes `liveness` to revocations published by any instance (this one included) and drops what
 * each affects. Resolves once the subscription is active; the returned function unsubscribes.
 * Pub/sub is best effort (a message published while the subscriber reconnects is lost); the cache's
 * `maxStalenessMs` bound is what guarantees propagation.
 */
export async function startRevocationListener(
  store: Store,
  liveness: LivenessChecker,
  options: RevocationListenerOptions = {},
): Promise<() => Promise<void>> {
  const { observer, clock = systemClock } = options;
  return store.pubsub.subscribe(REVOCATION_CHANNEL, (message) => {
    const { key, at } = readRevocation(message);
    liveness.invalidate(key);
    if (observer !== undefined && at !== undefined) {
      observer.revocationReceived(Math.max(clock.now() - at, 0) / 1000);
    }
  });
}

/** The key of a published revocation; undefined (drop everything) for anything unreadable. */
export function readRevocationKey(message: string): string | undefined {
  return readRevocation(message).key;
}

/** The key and time of a published revocation; each undefined when absent or unreadable. */
function readRevocation(message: string): { key?: string; at?: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const { key, at } = parsed as Partial<Record<keyof RevocationMessage, unknown>>;
  return {
    ...(typeof key === 'string' && key.length > 0 ? { key } : {}),
    ...(typeof at === 'number' && Number.isFinite(at) ? { at } : {}),
  };
}

function validate(request: RevocationRequest): { scope: RevocationScopeName; value: string } {
  // Requests come from the HTTP edge: check at run time what the types already say.
  const { scope, value, reason } = request as Partial<Record<keyof RevocationRequest, unknown>>;
  if (typeof scope !== 'string' || !(REVOCATION_SCOPES as readonly string[]).includes(scope)) {
    throw new ValidationError(`scope must be one of ${REVOCATION_SCOPES.join(', ')}`);
  }
  if (typeof reason !== 'string' || reason.trim() === '') throw new ValidationError('reason is required');
  if (reason.length > MAX_REASON_LENGTH || CONTROL_CHARACTERS.test(reason)) {
    throw new ValidationError(
      `reason must be at most ${MAX_REASON_LENGTH} characters without control characters`,
    );
  }
  if (request.issuedBefore !== undefined && typeof request.issuedBefore !== 'number') {
    throw new ValidationError('issuedBefore must be a time in milliseconds since the epoch');
  }
  if (scope === 'all') {
    if (value !== undefined) throw new ValidationError('scope all takes no value');
    return { scope, value: '' };
  }
  if (typeof value !== 'string' || value === '') throw new ValidationError(`scope ${scope} needs a value`);
  if (value.length > MAX_VALUE_LENGTH || CONTROL_CHARACTERS.test(value)) {
    throw new ValidationError(
      `value must be at most ${MAX_VALUE_LENGTH} characters without control characters`,
    );
  }
  return { scope: scope as RevocationScopeName, value };
}

function toScope(
  scope: Exclude<RevocationScopeName, 'session' | 'accessKey'>,
  value: string,
): RevocationScope {
  switch (scope) {
    case 'principal':
      return { kind: 'principal', principal: value };
    case 'role':
      return { kind: 'role', role: value };
    case 'group':
      return { kind: 'group', group: value };
    case 'idp':
      return { kind: 'idp', idp: value };
    case 'all':
      return { kind: 'global' };
  }
}
