import { Router } from 'express';
import type { KeyRing } from '../credentials/keys.js';

/** Public keys of the session-token signer; every loaded kid, so tokens from before a rotation verify. */
export function jwksRoutes(keys: KeyRing): Router {
  const router = Router();
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(keys.jwks());
  });
  return router;
}
