import { randomUUID } from 'node:crypto';
import express, { type Express, type Request } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { systemClock, type Clock } from './clock.js';
import type { LoadedConfig } from './config/load.js';
import { loadKeyRing, type KeyRing } from './credentials/keys.js';
import { LivenessChecker } from './credentials/liveness.js';
import { CredentialMinter } from './credentials/mint.js';
import { SessionVerifier } from './credentials/verify.js';
import { handleErrors, notFound } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { jwksRoutes } from './http/jwks.js';
import { Metrics } from './http/metrics.js';
import { createLogger, logSerializers, type Logger } from './log.js';
import { createStore } from './store/index.js';
import type { Store } from './store/types.js';

/**
 * The composition root: builds every service from the configuration and mounts the HTTP routes.
 * Nothing else wires dependencies; modules receive what they need through their constructors.
 */
export interface Services {
  config: LoadedConfig;
  clock: Clock;
  logger: Logger;
  store: Store;
  keys: KeyRing;
  liveness: LivenessChecker;
  minter: CredentialMinter;
  verifier: SessionVerifier;
  metrics: Metrics;
}

export interface BuildOptions {
  clock?: Clock;
  logger?: Logger;
  /** Environment for key material (FEDPROXY_KEYS); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Use this store instead of building one from config (several instances sharing one memory store). */
  store?: Store;
  /** Register process-wide metrics (CPU, memory, event loop); off for extra instances in one process. */
  processMetrics?: boolean;
}

export async function buildServices(config: LoadedConfig, options: BuildOptions = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log);
  const env = options.env ?? process.env;
  const { ring: keys, warnings } = await loadKeyRing({
    ...(config.keys.dir === undefined ? {} : { dir: config.keys.dir }),
    ...(env.FEDPROXY_KEYS === undefined ? {} : { envJson: env.FEDPROXY_KEYS }),
    ephemeral: config.keys.ephemeral,
  });
  for (const warning of warnings) logger.warn(warning);
  const store = options.store ?? createStore(config.store, { clock });
  const liveness = new LivenessChecker(store, clock);
  const { issuer } = config.credentials;
  const minter = new CredentialMinter(store, keys, liveness, clock, {
    accountId: config.accountId,
    issuer,
    reuseWindowSeconds: config.credentials.reuseWindowSeconds,
  });
  const verifier = new SessionVerifier(store, keys, liveness, clock, {
    issuer,
    maxClockSkewSeconds: config.credentials.maxClockSkewSeconds,
  });
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? true });
  return { config, clock, logger, store, keys, liveness, minter, verifier, metrics };
}

/** A client-supplied request id is kept when it is short and plain; otherwise a new one is made. */
function requestIdFor(req: Request): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
}

/**
 * Strict CSP: nothing but this origin's own resources; no inline script, no framing, no plugins.
 * Forms may post only back to fedproxy.
 */
const contentSecurityPolicy = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"],
  },
};

export function createApp(services: Services): Express {
  const { config, logger, metrics } = services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.server.trustProxy);
  app.use(
    pinoHttp({
      logger,
      serializers: logSerializers,
      wrapSerializers: false,
      genReqId: (req, res) => {
        const id = requestIdFor(req as Request);
        res.setHeader('X-Request-Id', id);
        return id;
      },
      autoLogging: {
        ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics',
      },
    }),
  );
  app.use(metrics.middleware());
  app.use(helmet({ contentSecurityPolicy }));

  app.use(healthRoutes(services));
  app.use(jwksRoutes(services.keys));
  app.use(metrics.routes());

  // Bodies are bounded before parsing; a larger one is a 413, never a partial read.
  app.use(express.json({ limit: config.server.bodyLimitBytes, strict: true }));
  app.use(express.urlencoded({ limit: config.server.bodyLimitBytes, extended: false, parameterLimit: 200 }));

  app.use(notFound);
  app.use(handleErrors(logger));
  return app;
}
