import type { RequestHandler } from 'express';
import { Router } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics on a registry of the app's own (not prom-client's global one), so several apps in
 * one process (tests, multi-instance runs) never share or double-register metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'fedproxy_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(options: { processMetrics: boolean }) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'fedproxy_' });
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
