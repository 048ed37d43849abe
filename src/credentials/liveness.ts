import type { Clock } from '../clock.js';
import type { SessionRecord, Store } from '../store/types.js';

/**
 * Validity is an allow-list: a credential is good only while its session record exists, is not revoked,
 * has not expired, and was issued at or after every not-before mark that covers it. Anything the store
 * cannot answer rejects (StoreUnavailableError) instead of counting as valid.
 */

export type RevocationScope =
  | { kind: 'global' }
  | { kind: 'idp'; idp: string }
  | { kind: 'principal'; principal: string }
  | { kind: 'role'; role: string }
  | { kind: 'group'; group: string };

/** The string form used as a not-before key: `global`, `idp:<id>`, `principal:<id>`, `role:<name>`, `group:<name>`. */
export function scopeKey(scope: RevocationScope): string {
  switch (scope.kind) {
    case 'global':
      return 'global';
    case 'idp':
      return `idp:${scope.idp}`;
    case 'principal':
      return `principal:${scope.principal}`;
    case 'role':
      return `role:${scope.role}`;
    case 'group':
      return `group:${scope.group}`;
  }
}

/** Every not-before scope that covers a session. */
export function scopesCovering(
  record: Pick<SessionRecord, 'idp' | 'principal' | 'role' | 'groups'>,
): string[] {
  return [
    scopeKey({ kind: 'global' }),
    scopeKey({ kind: 'idp', idp: record.idp }),
    scopeKey({ kind: 'principal', principal: record.principal }),
    scopeKey({ kind: 'role', role: record.role }),
    ...record.groups.map((group) => scopeKey({ kind: 'group', group })),
  ];
}

export type Liveness = { live: true } | { live: false; reason: string };

export class LivenessChecker {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async check(record: SessionRecord): Promise<Liveness> {
    if (record.revokedAt !== undefined) return { live: false, reason: 'session revoked' };
    if (record.expiresAt <= this.clock.now()) return { live: false, reason: 'session expired' };
    const marks = await this.store.notBefore.get(scopesCovering(record));
    for (const [scope, notBefore] of marks) {
      if (record.issuedAt < notBefore) return { live: false, reason: `revoked (${scope})` };
    }
    return { live: true };
  }
}
