import { randomUUID } from 'node:crypto';
import express, { type Express, type Request } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { AuditLog } from './audit/index.js';
import { createDevIdpFromConfig, mountDevIdp } from './auth/dev-idp/from-config.js';
import type { DevIdentityProvider } from './auth/dev-idp/provider.js';
import { LoginSessions } from './auth/login-session.js';
import { WorkloadTokenVerifier } from './auth/oidc/bearer.js';
import { OidcBrowserSignIn } from './auth/oidc/browser.js';
import { createSamlServiceProviders, type SamlServiceProvider } from './auth/saml/service-provider.js';
import { ServiceAccounts } from './auth/service-accounts.js';
import { systemClock, type Clock } from './clock.js';
import type { LoadedConfig } from './config/load.js';
import type { OidcIdpConfig } from './config/schema.js';
import { CredentialIssuer } from './credentials/issuer.js';
import { keySourcesOf, loadKeyRing, type KeyRing } from './credentials/keys.js';
import type { LivenessChecker } from './credentials/liveness.js';
import { CredentialMinter } from './credentials/mint.js';
import { RevocationService } from './credentials/revocation.js';
import type { RequestAuthorizer } from './credentials/authorize.js';
import type { SigV4Verifier } from './credentials/sigv4.js';
import type { SessionVerifier } from './credentials/verify.js';
import { verificationFor } from './credentials/verification.js';
import { adminRoutes } from './http/admin.js';
import { authRoutes } from './http/auth.js';
import { samlRoutes } from './http/saml.js';
import { authorizeRoutes } from './http/authorize.js';
import { authenticate, cookieSettings, type CookieSettings } from './http/authenticate.js';
import { credentialRoutes } from './http/credentials.js';
import { handleErrors, notFound } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { jwksRoutes } from './http/jwks.js';
import { Metrics } from './http/metrics.js';
import { portalRoutes } from './http/portal.js';
import { rateLimiters } from './http/rate-limit.js';
import { sessionRoutes } from './http/sessions.js';
import { assumeRoleWithSaml } from './http/sts-saml.js';
import { getCallerIdentity, getFederationToken } from './http/sts-signed.js';
import { stsRoutes } from './http/sts.js';
import { PortalViews } from './http/views.js';
import { createLogger, logSerializers, type Logger } from './log.js';
import { RoleCatalog } from './policy/role-catalog.js';
import { RoleResolver } from './policy/role-resolver.js';
import { createStore } from './store/index.js';
import { instrumentStore } from './store/instrumented.js';
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
  revocations: RevocationService;
  minter: CredentialMinter;
  verifier: SessionVerifier;
  sigv4: SigV4Verifier;
  authorizer: RequestAuthorizer;
  serviceAccounts: ServiceAccounts;
  /** The roles and mappings in force (stored in the config record `policy`, edited via /admin/v1). */
  catalog: RoleCatalog;
  resolver: RoleResolver;
  issuer: CredentialIssuer;
  loginSessions: LoginSessions;
  workloadTokens: WorkloadTokenVerifier;
  /** Browser sign-in per OIDC IdP id (IdPs with `browser: true` and a client id). */
  signIns: Map<string, OidcBrowserSignIn>;
  /** SAML service providers per SAML IdP id. */
  samlProviders: Map<string, SamlServiceProvider>;
  metrics: Metrics;
  audit: AuditLog;
  /** The embedded development IdP, when `devIdp.enabled`. */
  devIdp?: DevIdentityProvider;
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
  const { ring: keys, warnings } = await loadKeyRing(keySourcesOf(config.keys, env));
  for (const warning of warnings) logger.warn(warning);
  const metrics = new Metrics({
    processMetrics: options.processMetrics ?? true,
    roles: config.roles.map((role) => role.name),
  });
  // Every store call is timed and its failures counted (fedproxy_store_*).
  const store = instrumentStore(
    options.store ??
      createStore(config.store, {
        clock,
        onConnectionError: (error) => logger.warn({ err: error }, 'store connection error'),
      }),
    metrics,
  );
  const { liveness, verifier, sigv4, authorizer } = verificationFor(
    store,
    keys,
    clock,
    config,
    config.revocation.maxStalenessMs,
  );
  const { issuer: tokenIssuer } = config.credentials;
  const minter = new CredentialMinter(store, keys, liveness, clock, {
    accountId: config.accountId,
    issuer: tokenIssuer,
    reuseWindowSeconds: config.credentials.reuseWindowSeconds,
  });
  const catalog = await RoleCatalog.open(store, {
    seedRoles: config.roles,
    seedMappings: config.mappings,
    logger,
    knownIdps: config.idps.map((idp) => idp.id),
  });
  const resolver = new RoleResolver(catalog, { maxValueLength: config.templates.maxValueLength });
  const oidcIdps = config.idps.filter((idp): idp is OidcIdpConfig => idp.type === 'oidc');
  const signIns = new Map(
    oidcIdps
      .filter((idp) => idp.browser && idp.clientId !== undefined)
      .map((idp) => [
        idp.id,
        new OidcBrowserSignIn(idp, {
          store,
          clock,
          redirectUri: `${config.server.publicUrl}/auth/oidc/${idp.id}/callback`,
        }),
      ]),
  );
  const audit = new AuditLog({ store, logger, clock });
  const devIdp = await createDevIdpFromConfig(config, {
    onServerError: (error) => logger.error({ err: error }, 'development IdP error'),
  });
  return {
    config,
    clock,
    logger,
    store,
    keys,
    liveness,
    revocations: new RevocationService(
      store,
      liveness,
      clock,
      { maxClockSkewSeconds: config.credentials.maxClockSkewSeconds },
      metrics,
    ),
    minter,
    verifier,
    sigv4,
    authorizer,
    serviceAccounts: new ServiceAccounts(config.serviceAccounts),
    catalog,
    resolver,
    issuer: new CredentialIssuer(resolver, minter, config.idps, audit, metrics),
    audit,
    loginSessions: new LoginSessions(store, clock, {
      idleTimeoutMs: config.session.idleTimeoutSeconds * 1000,
      absoluteTimeoutMs: config.session.absoluteTimeoutSeconds * 1000,
    }),
    workloadTokens: new WorkloadTokenVerifier(oidcIdps, { clock }),
    signIns,
    samlProviders: await createSamlServiceProviders(config.idps, {
      store,
      clock,
      logger,
      publicUrl: config.server.publicUrl,
    }),
    metrics,
    ...(devIdp === undefined ? {} : { devIdp }),
  };
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
  const publicUrl = config.server.publicUrl;
  const cookies: CookieSettings = cookieSettings(publicUrl);
  const limits = rateLimiters(services.store.rateCounters, config.rateLimits);
  const authDeps = {
    loginSessions: services.loginSessions,
    workloadTokens: services.workloadTokens,
    cookies,
  };
  const views = new PortalViews({ productName: 'fedproxy', devMode: config.mode === 'development' });

  const app = express();
  app.disable('x-powered-by');
  // No ETags: API answers are per-request and `no-store` (hashing every body would buy nothing), and the
  // static assets carry their own validators (express.static).
  app.set('etag', false);
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
  // The development IdP serves its own pages with its own CSP and reads its own bodies.
  if (services.devIdp !== undefined) mountDevIdp(app, services.devIdp);
  app.use(helmet({ contentSecurityPolicy }));

  app.use(healthRoutes(services));
  app.use(jwksRoutes(services.keys));
  app.use(metrics.routes());

  // The STS Query API parses its own bodies (it keeps the raw bytes for SigV4 payload hashes).
  app.use(
    stsRoutes({
      accountId: config.accountId,
      issuer: services.issuer,
      workloadTokens: services.workloadTokens,
      bodyLimitBytes: config.server.bodyLimitBytes,
      limits,
      actions: {
        AssumeRoleWithSAML: assumeRoleWithSaml({
          issuer: services.issuer,
          limits,
          accountId: config.accountId,
          samlProviders: services.samlProviders,
        }),
        GetCallerIdentity: getCallerIdentity({ sigv4: services.sigv4, accountId: config.accountId }),
        GetFederationToken: getFederationToken({
          sigv4: services.sigv4,
          serviceAccounts: services.serviceAccounts,
          issuer: services.issuer,
          clock: services.clock,
          limits,
        }),
      },
    }),
  );

  // The SAML ACS parses its own (larger) form bodies, so an oversized post gets the failure page.
  app.use(
    samlRoutes({
      serviceProviders: services.samlProviders,
      loginSessions: services.loginSessions,
      cookies,
      sessionTtlMs: config.session.absoluteTimeoutSeconds * 1000,
      limits,
      views,
      logger,
      audit: services.audit,
    }),
  );

  // Bodies are bounded before parsing; a larger one is a 413, never a partial read.
  app.use(express.json({ limit: config.server.bodyLimitBytes, strict: true }));
  app.use(express.urlencoded({ limit: config.server.bodyLimitBytes, extended: false, parameterLimit: 200 }));

  const sessionOrToken = authenticate(authDeps);
  // The API routes clients call most come first: every router in front of a route is walked for each
  // request that reaches it.
  app.use(
    credentialRoutes({
      issuer: services.issuer,
      resolver: services.resolver,
      accountId: config.accountId,
      publicUrl,
      authenticate: sessionOrToken,
      authenticateRawToken: authenticate(authDeps, { allowRawToken: true, allowSession: false }),
      limits,
    }),
  );
  app.use(authorizeRoutes({ authorizer: services.authorizer, verifiers: config.verifiers, logger }));
  app.use(
    portalRoutes({
      issuer: services.issuer,
      resolver: services.resolver,
      idps: config.idps,
      publicUrl,
      views,
      authenticate: sessionOrToken,
      limits,
      ...(services.devIdp === undefined
        ? {}
        : {
            demoUsers: services.devIdp.users.map(({ username, password, groups }) => ({
              username,
              password,
              groups,
            })),
          }),
    }),
  );
  app.use(
    authRoutes({
      signIns: services.signIns,
      loginSessions: services.loginSessions,
      cookies,
      publicUrl,
      sessionTtlMs: config.session.absoluteTimeoutSeconds * 1000,
      authenticate: sessionOrToken,
      limits,
      views,
      logger,
      audit: services.audit,
      revocations: services.revocations,
    }),
  );

  app.use(
    sessionRoutes({
      sessions: services.store.sessions,
      revocations: services.revocations,
      audit: services.audit,
      publicUrl,
      authenticate: sessionOrToken,
    }),
  );
  app.use(
    '/admin/v1',
    adminRoutes({
      store: services.store,
      revocations: services.revocations,
      audit: services.audit,
      admin: config.admin,
      publicUrl,
      authenticate: sessionOrToken,
      policy: { catalog: services.catalog, maxValueLength: config.templates.maxValueLength },
    }),
  );

  app.use(notFound);
  app.use(handleErrors(logger));
  return app;
}
