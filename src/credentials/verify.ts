import { BoundedMap } from '../bounded-map.js';
import type { Clock } from '../clock.js';
import { InvalidCredentialError } from '../errors.js';
import type { SessionRecord, Store } from '../store/types.js';
import { deriveSecretAccessKey } from './access-keys.js';
import type { KeyRing } from './keys.js';
import type { LivenessChecker } from './liveness.js';
import { readSessionToken, SessionTokenError, type SessionClaims } from './session-token.js';

export interface VerifySettings {
  /** The `iss` fedproxy puts in its session tokens. */
  issuer: string;
  maxClockSkewSeconds: number;
}

/** How many verified session tokens are remembered (their signatures are not checked again). */
const VERIFIED_TOKENS_MAX = 10_000;

export interface VerifiedSession {
  claims: SessionClaims;
  record: SessionRecord;
}

/** AWS's wording, so AWS clients show the familiar messages. */
const INVALID = 'The security token included in the request is invalid';
const EXPIRED = 'The security token included in the request is expired';

/**
 * Verifies session tokens: form and signature (session-token.ts), issuer and times, then liveness against
 * the store (allow-list: the session record must exist and agree with the token, not be revoked and not
 * be older than any not-before mark). Every failure is an InvalidCredentialError with AWS's code; the
 * reason is in the error's cause for logs and audit, never in the client message.
 * A store that cannot be asked rejects with StoreUnavailableError (503): nothing fails open.
 *
 * A token whose signature was verified is remembered (bounded, oldest dropped first), so a client that
 * signs many requests with one set of credentials pays for the signature check once. Only the exact token
 * text matches (the key ring is fixed for the verifier's life); times, the record and liveness are checked
 * on every call as for a new token.
 */
export class SessionVerifier {
  readonly #verifiedTokens = new BoundedMap<{ claims: SessionClaims; kid: string }>(VERIFIED_TOKENS_MAX);

  constructor(
    private readonly store: Store,
    private readonly keys: KeyRing,
    private readonly liveness: LivenessChecker,
    private readonly clock: Clock,
    private readonly settings: VerifySettings,
  ) {}

  async verifySessionToken(token: string): Promise<VerifiedSession> {
    const { claims, kid } = await this.readToken(token);
    const now = this.clock.now();
    if (claims.iss !== this.settings.issuer) throw invalid('foreign issuer');
    if (claims.iat * 1000 > now + this.settings.maxClockSkewSeconds * 1000)
      throw invalid('issued in the future');
    if (claims.exp * 1000 <= now) throw new InvalidCredentialError(EXPIRED, 'ExpiredToken');

    // Always read from the store: the record is the allow-list, so a session revoked one by one (on any
    // instance) or lost with its store stops verifying at once, and an unreachable store fails closed.
    const record = await this.store.sessions.get(claims.sid);
    if (record === null) throw invalid('no such session');
    if (
      record.akid !== claims.akid ||
      record.kid !== kid ||
      record.principal !== claims.sub ||
      record.role !== claims.role ||
      record.policyHash !== claims.ph
    ) {
      throw invalid('token does not match its session');
    }
    const liveness = await this.liveness.check(record);
    if (!liveness.live) throw invalid(liveness.reason);
    return { claims, record };
  }

  private async readToken(token: string): Promise<{ claims: SessionClaims; kid: string }> {
    const remembered = this.#verifiedTokens.get(token);
    if (remembered !== undefined) return remembered;
    let read;
    try {
      read = await readSessionToken(token, this.keys);
    } catch (error) {
      if (error instanceof SessionTokenError) throw invalid(error.message);
      throw error;
    }
    Object.freeze(read.claims);
    this.#verifiedTokens.set(token, read);
    return read;
  }

  /** Re-derives the secret access key of a verified session (for SigV4 checks). */
  secretAccessKeyOf(record: SessionRecord): string {
    const keySet = this.keys.find(record.kid);
    if (keySet === undefined) throw invalid('key set retired');
    return deriveSecretAccessKey(keySet.derivationKey, record.akid);
  }
}

function invalid(reason: string): InvalidCredentialError {
  const error = new InvalidCredentialError(INVALID);
  error.cause = reason;
  return error;
}
