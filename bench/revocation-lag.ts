/**
 * Revocation propagation between two instances on one Redis: mint on A, have B decide once (so B holds
 * the session as live in its cache), revoke on A through the admin API, and ask B again and again until
 * it denies. The lag is measured from the moment the revocation request leaves the client, so it
 * includes A's own handling of the request: an upper bound on what B can lag behind A.
 *
 * Scopes take turns: `session` is seen by B on its next read of the session record; every other scope
 * reaches B through the published invalidation (or, failing that, revocation.maxStalenessMs later).
 */
import { ROLE } from './scenarios.js';

export const LAG_SCOPES = ['session', 'user', 'role', 'group', 'all'] as const;
type LagScope = (typeof LAG_SCOPES)[number];

export interface RevocationLagInputs {
  a: string;
  b: string;
  workloadToken: string;
  /** The workload's principal id (for `user` revocations). */
  principal: string;
  group: string;
  adminToken: string;
  verifierToken: string;
  count: number;
}

export interface RevocationLagResult {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  byScope: Record<LagScope, { p50Ms: number; p99Ms: number }>;
  /** Revocations B had not honoured after 5 s. */
  missed: number;
}

const GIVE_UP_MS = 5000;

export async function measureRevocationLag(inputs: RevocationLagInputs): Promise<RevocationLagResult> {
  const lags: number[] = [];
  const byScope = new Map<LagScope, number[]>(LAG_SCOPES.map((scope) => [scope, []]));
  let missed = 0;

  const decisionOnB = async (sessionToken: string): Promise<{ allowed: boolean; reason?: string }> => {
    const response = await fetch(`${inputs.b}/v1/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inputs.verifierToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionToken, action: 's3:GetObject', resource: 'arn:aws:s3:::bench/object' }),
    });
    if (response.status !== 200) throw new Error(`B answered /v1/authorize with ${response.status}`);
    return (await response.json()) as { allowed: boolean; reason?: string };
  };
  const allowedOnB = async (sessionToken: string) => (await decisionOnB(sessionToken)).allowed;

  for (let i = 0; i < inputs.count; i++) {
    const scope = LAG_SCOPES[i % LAG_SCOPES.length]!;
    const minted = await fetch(`${inputs.a}/v1/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inputs.workloadToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: ROLE, sessionName: `lag-${process.pid}-${i}` }),
    });
    if (minted.status !== 200) throw new Error(`A answered /v1/credentials with ${minted.status}`);
    const { SessionToken, sessionId } = (await minted.json()) as { SessionToken: string; sessionId: string };
    const first = await decisionOnB(SessionToken);
    if (!first.allowed) throw new Error(`B denied a session A had just minted: ${first.reason}`);

    const value = {
      session: sessionId,
      user: inputs.principal,
      role: ROLE,
      group: inputs.group,
      all: undefined,
    }[scope];
    const startedAt = performance.now();
    const revoked = fetch(`${inputs.a}/admin/v1/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inputs.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope, ...(value === undefined ? {} : { value }), reason: 'bench' }),
    });
    let lag: number | undefined;
    while (performance.now() - startedAt < GIVE_UP_MS) {
      if (!(await allowedOnB(SessionToken))) {
        lag = performance.now() - startedAt;
        break;
      }
    }
    const answer = await revoked;
    if (answer.status !== 201) throw new Error(`A answered the revocation with ${answer.status}`);
    if (lag === undefined) missed += 1;
    else {
      lags.push(lag);
      byScope.get(scope)!.push(lag);
    }
  }

  const sorted = (values: number[]) => [...values].sort((x, y) => x - y);
  const at = (values: number[], p: number) =>
    values[Math.min(values.length - 1, Math.floor(values.length * p))] ?? NaN;
  const all = sorted(lags);
  return {
    count: inputs.count,
    p50Ms: at(all, 0.5),
    p99Ms: at(all, 0.99),
    maxMs: all.at(-1) ?? NaN,
    byScope: Object.fromEntries(
      LAG_SCOPES.map((scope) => {
        const values = sorted(byScope.get(scope)!);
        return [scope, { p50Ms: at(values, 0.5), p99Ms: at(values, 0.99) }];
      }),
    ) as RevocationLagResult['byScope'],
    missed,
  };
}
