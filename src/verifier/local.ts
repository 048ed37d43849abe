import type { LoadedConfig } from '../config/load.js';
import { RequestAuthorizer } from '../credentials/authorize.js';
import { loadKeyRing } from '../credentials/keys.js';
import { LivenessChecker } from '../credentials/liveness.js';
import { SigV4Verifier } from '../credentials/sigv4.js';
import { SessionVerifier } from '../credentials/verify.js';
import { systemClock } from '../clock.js';
import { createStore } from '../store/index.js';

/**
 * An in-process authorizer for the verifier middleware: the same checks as `POST /v1/authorize`, with
 * fedproxy's key ring and store (the configuration fedproxy itself runs with). `close()` releases the
 * store connection.
 */
export async function localAuthorizer(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ authorizer: RequestAuthorizer; close(): Promise<void> }> {
  const clock = systemClock;
  const { ring } = await loadKeyRing({
    ...(config.keys.dir === undefined ? {} : { dir: config.keys.dir }),
    ...(env.FEDPROXY_KEYS === undefined ? {} : { envJson: env.FEDPROXY_KEYS }),
    ephemeral: config.keys.ephemeral,
  });
  const store = createStore(config.store, { clock });
  const liveness = new LivenessChecker(store, clock);
  const sessions = new SessionVerifier(store, ring, liveness, clock, {
    issuer: config.credentials.issuer,
    maxClockSkewSeconds: config.credentials.maxClockSkewSeconds,
  });
  const authorizer = new RequestAuthorizer(
    sessions,
    new SigV4Verifier(sessions, clock),
    clock,
    config.accountId,
  );
  return { authorizer, close: () => store.close() };
}
