import type { RequestHandler } from 'express';
import { Router } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import {
  CREDENTIAL_OUTCOMES,
  type CredentialObserver,
  type CredentialOutcome,
} from '../credentials/issuer.js';
import {
  REVOCATION_SCOPES,
  type RevocationObserver,
  type RevocationScopeName,
} from '../credentials/revocation.js';
import type { StoreObserver } from '../store/instrumented.js';

export interface MetricsOptions {
  /** Register process-wide metrics (CPU, memory, event loop); off for extra instances in one process. */
  processMetrics: boolean;
  /**
   * The configured role names: the only values the `role` label takes. Any other name (a caller may ask
   * for any string, and is then denied) is counted as `other`, so callers cannot grow the series.
   */
  roles?: readonly string[];
}

/** The `role` label of a name outside the configured roles. */
export const OTHER_ROLE = 'other';

/**
 * Prometheus metrics on a registry of the app's own (not prom-client's global one), so several apps in
 * one process (tests, multi-instance runs) never share or double-register metrics.
 *
 * Every label has a bounded set of values: route patterns, configured role names, revocation scopes,
 * store operation names. Nothing a caller sends becomes a label value as is.
 */
export class Metrics implements CredentialObserver, RevocationObserver, StoreObserver {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'fedproxy_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly credentials = new Counter({
    name: 'fedproxy_credentials_total',
    help: 'Credential requests by outcome (minted, reused, denied) and role (configured roles; others as "other")',
    labelNames: ['outcome', 'role'] as const,
    registers: [this.registry],
  });
  readonly revocations = new Counter({
    name: 'fedproxy_revocations_total',
    help: 'Revocations taken on this instance, by scope',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly revocationPropagation = new Histogram({
    name: 'fedproxy_revocation_propagation_seconds',
    help: 'Time from a revocation on any instance to its pub/sub message reaching this one (clock skew included)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'fedproxy_store_operation_duration_seconds',
    help: 'Store operation duration (failed operations included), by operation',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'fedproxy_store_errors_total',
    help: 'Store operations that rejected, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly #roles: ReadonlySet<string>;

  constructor(options: MetricsOptions) {
    this.#roles = new Set(options.roles ?? []);
    // Known series start at zero, so rate() and absence alerts work before the first event.
    for (const outcome of CREDENTIAL_OUTCOMES) {
      for (const role of [...this.#roles, OTHER_ROLE]) this.credentials.inc({ outcome, role }, 0);
    }
    for (const scope of REVOCATION_SCOPES) this.revocations.inc({ scope }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'fedproxy_' });
  }

  credential(outcome: CredentialOutcome, role: string): void {
    this.credentials.inc({ outcome, role: this.#roles.has(role) ? role : OTHER_ROLE });
  }

  revoked(scope: RevocationScopeName): void {
    this.revocations.inc({ scope });
  }

  revocationReceived(lagSeconds: number): void {
    this.revocationPropagation.observe(lagSeconds);
  }

  storeOperation(operation: string, seconds: number, failed: boolean): void {
    this.storeDuration.observe({ operation }, seconds);
    if (failed) this.storeErrors.inc({ operation });
  }

  /** Times each request; labels it with the matched route pattern (never the raw path: bounded cardinality). */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.httpDuration.startTimer();
      res.on('finish', () => {
        const pattern = (req.route as { path?: unknown } | undefined)?.path;
        const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }

  routes(): Router {
    const router = Router();
    router.get('/metrics', async (_req, res) => {
      res.set('Content-Type', this.registry.contentType).send(await this.registry.metrics());
    });
    return router;
  }
}
