import type { LoadedConfig } from '../config/load.js';
import type { RequestAuthorizer } from '../credentials/authorize.js';
import { keySourcesOf, loadKeyRing } from '../credentials/keys.js';
import { verificationFor } from '../credentials/verification.js';
import { systemClock } from '../clock.js';
import { createStore } from '../store/index.js';

/**
 * An in-process authorizer for the verifier middleware: the same checks as `POST /v1/authorize`, with
 * fedproxy's key ring and store (the configuration fedproxy itself runs with). `close()` releases the
 * store connection. Nothing is cached: this process hears no revocation messages.
 */
export async function localAuthorizer(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ authorizer: RequestAuthorizer; close(): Promise<void> }> {
  const clock = systemClock;
  const { ring } = await loadKeyRing(keySourcesOf(config.keys, env));
  const store = createStore(config.store, { clock });
  const { authorizer } = verificationFor(store, ring, clock, config, 0);
  return { authorizer, close: () => store.close() };
}
