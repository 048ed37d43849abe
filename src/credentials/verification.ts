import type { Clock } from '../clock.js';
import type { LoadedConfig } from '../config/load.js';
import type { Store } from '../store/types.js';
import { RequestAuthorizer } from './authorize.js';
import type { KeyRing } from './keys.js';
import { LivenessChecker } from './liveness.js';
import { SigV4Verifier } from './sigv4.js';
import { SessionVerifier } from './verify.js';

export interface Verification {
  liveness: LivenessChecker;
  verifier: SessionVerifier;
  sigv4: SigV4Verifier;
  authorizer: RequestAuthorizer;
}

/**
 * The chain that decides whether a credential is good and what it may do, wired one way for fedproxy and
 * for the verifier middleware's local mode, so both give the same answers.
 *
 * `maxStalenessMs` bounds the liveness cache; only a process that listens for revocation messages should
 * cache (fedproxy does; the local authorizer does not, so it passes 0).
 */
export function verificationFor(
  store: Store,
  keys: KeyRing,
  clock: Clock,
  config: Pick<LoadedConfig, 'credentials' | 'accountId'>,
  maxStalenessMs: number,
): Verification {
  const liveness = new LivenessChecker(store, clock, { maxStalenessMs });
  const verifier = new SessionVerifier(store, keys, liveness, clock, {
    issuer: config.credentials.issuer,
    maxClockSkewSeconds: config.credentials.maxClockSkewSeconds,
  });
  const sigv4 = new SigV4Verifier(verifier, clock);
  return {
    liveness,
    verifier,
    sigv4,
    authorizer: new RequestAuthorizer(verifier, sigv4, clock, config.accountId),
  };
}
