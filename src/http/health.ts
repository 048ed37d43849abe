import { Router } from 'express';
import type { KeyRing } from '../credentials/keys.js';
import type { Store } from '../store/types.js';

/**
 * `/healthz`: the process is up (no dependencies asked: a load balancer must not kill every instance
 * because Redis blinked). `/readyz`: this instance can serve: the store answers and keys are loaded.
 */
export function healthRoutes(deps: { store: Store; keys: KeyRing }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks: Record<string, 'ok' | 'fail'> = { keys: deps.keys.size > 0 ? 'ok' : 'fail' };
    try {
      await deps.store.ping();
      checks.store = 'ok';
    } catch {
      checks.store = 'fail';
    }
    const ready = Object.values(checks).every((check) => check === 'ok');
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'unavailable', checks });
  });
  return router;
}
