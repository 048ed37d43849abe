import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, type Store as RateLimitStore } from 'express-rate-limit';
import { principalId, type Identity } from '../auth/identity.js';
import { RateLimitedError } from '../errors.js';
import type { RateCounterStore } from '../store/types.js';
import { callerOf } from './authenticate.js';

/**
 * Rate limits shared by every instance: the counters live in the store (Redis in production), so a
 * client cannot multiply its allowance by spreading requests over instances. The client address is
 * `req.ip`, which honours `server.trustProxy` only as far as configured, so a forged X-Forwarded-For
 * does not mint a fresh allowance. A store that cannot be asked fails the request (503), never opens
 * the gate.
 */
class SharedCounters implements RateLimitStore {
  readonly localKeys = false;
  #windowMs = 60_000;

  constructor(
    private readonly counters: RateCounterStore,
    readonly prefix: string,
  ) {}

  init(options: { windowMs: number }): void {
    this.#windowMs = options.windowMs;
  }

  async increment(key: string) {
    const { count, resetAt } = await this.counters.increment(`${this.prefix}${key}`, this.#windowMs);
    return { totalHits: count, resetTime: new Date(resetAt) };
  }

  decrement(key: string): Promise<void> {
    return this.counters.decrement(`${this.prefix}${key}`);
  }

  resetKey(key: string): Promise<void> {
    return this.counters.reset(`${this.prefix}${key}`);
  }
}

function limiter(
  counters: RateCounterStore,
  name: string,
  perMinute: number,
  keyGenerator?: (req: Request, res: Response) => string,
): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    passOnStoreError: false,
    store: new SharedCounters(counters, `${name}:`),
    ...(keyGenerator === undefined ? {} : { keyGenerator }),
    handler: (_req, _res, next) => next(new RateLimitedError()),
  });
}

export interface RateLimitSettings {
  signInPerMinutePerIp: number;
  mintPerMinutePerIp: number;
  mintPerMinutePerPrincipal: number;
}

export function rateLimiters(counters: RateCounterStore, settings: RateLimitSettings) {
  return {
    /** Sign-in starts and callbacks, per client address. */
    signIn: limiter(counters, 'signin-ip', settings.signInPerMinutePerIp),
    /** Credential minting and token exchange, per client address (before authentication). */
    mintByIp: limiter(counters, 'mint-ip', settings.mintPerMinutePerIp),
    /**
     * Credential minting per principal (after authentication): the caller's, or the identity an STS
     * action authenticated from its parameters (`res.locals.limitedIdentity`, see limitByPrincipal).
     */
    mintByPrincipal: limiter(counters, 'mint-principal', settings.mintPerMinutePerPrincipal, (_req, res) => {
      const identity = (res.locals.limitedIdentity as Identity | undefined) ?? callerOf(res)?.identity;
      return identity === undefined ? 'anonymous' : principalId(identity);
    }),
  };
}
