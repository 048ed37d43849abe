import { z } from 'zod';
import { policyDocumentSchema } from '../policy/document.js';
import { validatePolicyForEvaluation } from '../policy/evaluate.js';
import { checkPolicyTemplate, PolicyTemplateError } from '../policy/templates.js';
import { DEV_IDP_ID } from './dev-idp.js';

/**
 * Every setting, its default and a one-line description, in one place. The loader (load.ts) reads YAML
 * plus FEDPROXY_* overrides into this schema and reports every problem at once, each with its path.
 * `docs/configuration.md` is generated from the descriptions here.
 */

/** AWS's character set for names that end up in ARNs (role names, session names). */
const awsName = /^[\w+=,.@-]+$/;

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080');

const serverSchema = z
  .strictObject({
    listen: hostPort.default('127.0.0.1:8080').describe('Address to listen on, host:port.'),
    publicUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        'Base URL that browsers and IdPs see (redirect and ACS URLs); defaults to the listen address.',
      ),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('PEM certificate (chain) file.'),
        key: z.string().min(1).describe('PEM private key file.'),
      })
      .optional()
      .describe('Serve HTTPS natively with this certificate and key.'),
    allowPlainHttp: z
      .boolean()
      .default(false)
      .describe(
        'Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy). Loopback is always allowed.',
      ),
    trustProxy: z
      .union([z.boolean(), z.int().min(0).max(10)])
      .default(false)
      .describe('Number of reverse-proxy hops to trust for X-Forwarded-For (Express "trust proxy").'),
    bodyLimitBytes: z
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(256 * 1024)
      .describe('Largest request body accepted; larger bodies get 413 before parsing.'),
    shutdownGraceMs: z
      .int()
      .min(0)
      .max(120_000)
      .default(10_000)
      .describe('How long a SIGTERM waits for in-flight requests before closing connections.'),
  })
  .prefault({});

const storeSchema = z
  .strictObject({
    type: z
      .enum(['redis', 'memory'])
      .default('redis')
      .describe('Where sessions, revocations and config records live. "memory" is for dev mode only.'),
    redis: z
      .strictObject({
        url: z.string().default('redis://127.0.0.1:6379').describe('Redis URL (redis:// or rediss://).'),
        keyPrefix: z
          .string()
          .regex(/^[\w:.-]*$/)
          .default('fp:')
          .describe('Prefix of every key fedproxy writes.'),
        commandTimeoutMs: z
          .int()
          .min(50)
          .max(30_000)
          .default(2_000)
          .describe('A command not answered in this time fails (and the request answers 503).'),
      })
      .prefault({}),
    auditMaxLength: z
      .int()
      .min(1000)
      .default(1_000_000)
      .describe('The audit stream keeps about this many newest events.'),
  })
  .prefault({});

const keysSchema = z
  .strictObject({
    dir: z
      .string()
      .optional()
      .describe(
        'Folder of key sets written by `fedproxy keys generate`; every *.key.json file in it is loaded.',
      ),
    ephemeral: z
      .boolean()
      .default(false)
      .describe('Generate a throwaway key set at start (dev mode only: credentials die with the process).'),
  })
  .prefault({});

const credentialsSchema = z
  .strictObject({
    issuer: z
      .string()
      .min(1)
      .optional()
      .describe('The `iss` of session tokens; defaults to server.publicUrl.'),
    reuseWindowSeconds: z
      .int()
      .min(0)
      .max(3600)
      .default(300)
      .describe(
        'The same principal, role, session policy and duration within this window gets the same credentials back (0 disables reuse).',
      ),
    maxClockSkewSeconds: z
      .int()
      .min(0)
      .max(300)
      .default(30)
      .describe('Leeway when checking session-token times.'),
  })
  .prefault({});

const claimPaths = z
  .strictObject({
    subject: z.string().default('sub').describe('Claim holding the stable subject id.'),
    username: z.string().default('preferred_username').describe('Claim holding the username.'),
    email: z.string().default('email').describe('Claim holding the e-mail address.'),
    groups: z.string().default('groups').describe('Claim (dot path) holding the groups.'),
  })
  .prefault({});

const idpId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lowercase letters, digits and dashes, at most 32 characters')
  // Sessions of GetFederationToken carry this idp; no configured IdP may pose as it.
  .refine((id) => id !== 'federation', '"federation" is reserved for service-account sessions');

const oidcIdpSchema = z.strictObject({
  id: idpId.describe('Appears in /auth/oidc/<id>/...'),
  type: z.literal('oidc'),
  displayName: z.string().optional().describe('Shown on the sign-in page.'),
  issuer: z.url().describe('The IdP issuer; discovery must report exactly this value.'),
  clientId: z.string().optional().describe('OAuth client id (browser sign-in).'),
  clientSecret: z.string().optional().describe('OAuth client secret; use ${env:NAME} rather than a literal.'),
  browser: z.boolean().default(true).describe('Offer browser sign-in; false accepts bearer tokens only.'),
  audiences: z
    .array(z.string().min(1))
    .default([])
    .describe('Accepted `aud` values of workload bearer tokens.'),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .default(['RS256', 'ES256', 'EdDSA'])
    .describe('Signature algorithms accepted on IdP tokens.'),
  jwksUri: z.url().optional().describe('JWKS URL; defaults to the one discovery names.'),
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']).describe('Scopes asked at sign-in.'),
  claims: claimPaths,
  claimsFromUserinfo: z
    .boolean()
    .default(false)
    .describe('Also read claims (e.g. groups) from the userinfo endpoint at browser sign-in.'),
  bindCredentialsToToken: z
    .boolean()
    .default(false)
    .describe('Never issue credentials that outlive the IdP token they were minted from.'),
});

/** A PEM text (`-----BEGIN ...`) or the path of a file holding it; read when the server starts. */
const pemOrFile = z.string().min(1);

const samlKeyPair = z.strictObject({
  key: pemOrFile.describe('PEM private key, or a file holding it.'),
  certificate: pemOrFile.describe('PEM certificate of that key, or a file holding it.'),
});

const samlIdpSchema = z
  .strictObject({
    id: idpId.describe('Appears in /auth/saml/<id>/...'),
    type: z.literal('saml'),
    displayName: z.string().optional().describe('Shown on the sign-in page.'),
    metadata: z
      .string()
      .min(1)
      .optional()
      .describe(
        'IdP metadata XML: a file path (read at start) or an https URL (fetched when first needed; http only on loopback).',
      ),
    metadataMaxAgeSeconds: z
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(86_400)
      .describe('Metadata from a URL is fetched again after this long (signing-certificate rollover).'),
    entityId: z
      .string()
      .min(1)
      .optional()
      .describe(
        'IdP entity ID, the Issuer of its responses. Required without metadata; with metadata it must match (and picks the entity from an aggregate).',
      ),
    entryPoint: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('IdP single sign-on URL (HTTP-Redirect binding); required without metadata, overrides it.'),
    certificates: z
      .array(pemOrFile)
      .default([])
      .describe(
        'IdP signing certificates (PEM or files), several during rollover. Required without metadata; when set, only these are trusted, whatever the metadata lists.',
      ),
    spEntityId: z
      .string()
      .min(1)
      .optional()
      .describe(
        "fedproxy's entity ID towards this IdP (the Audience its assertions must name); defaults to <publicUrl>/auth/saml/<id>/metadata.",
      ),
    allowIdpInitiated: z
      .boolean()
      .default(false)
      .describe(
        'Accept unsolicited (IdP-initiated) responses at the ACS; open to login CSRF, off by default.',
      ),
    wantAuthnResponseSigned: z
      .boolean()
      .default(false)
      .describe(
        'Also require a signature on the Response itself. Assertions must always be signed, and fedproxy reads every value it trusts from the signed assertion.',
      ),
    clockSkewSeconds: z
      .int()
      .min(0)
      .max(300)
      .default(30)
      .describe('Leeway when checking NotBefore / NotOnOrAfter against the IdP clock.'),
    maxResponseBytes: z
      .int()
      .min(8 * 1024)
      .max(1024 * 1024)
      .default(256 * 1024)
      .describe('Largest posted SAMLResponse (base64); larger ones get 413 before any parsing.'),
    nameIdFormat: z
      .string()
      .min(1)
      .optional()
      .describe(
        'NameID format asked for in the AuthnRequest (e.g. urn:oasis:names:tc:SAML:2.0:nameid-format:persistent); the IdP chooses when absent.',
      ),
    signing: samlKeyPair
      .optional()
      .describe(
        'SP key pair that signs AuthnRequests (RSA-SHA256); the certificate is published in the SP metadata.',
      ),
    decryption: samlKeyPair
      .optional()
      .describe(
        'SP key pair for encrypted assertions; the certificate is published in the SP metadata for the IdP to encrypt to.',
      ),
    attributes: z
      .strictObject({
        subject: z.string().optional().describe('Attribute holding the subject; the NameID when absent.'),
        username: z.string().optional().describe('Attribute holding the username; the NameID when absent.'),
        email: z.string().optional().describe('Attribute holding the e-mail address.'),
        groups: z
          .string()
          .optional()
          .describe('Attribute holding the groups (multi-valued; one value is one group).'),
      })
      .prefault({}),
    bindCredentialsToToken: z
      .boolean()
      .default(false)
      .describe(
        "Never issue credentials that outlive the assertion (SessionNotOnOrAfter, else the assertion's NotOnOrAfter).",
      ),
  })
  .superRefine((idp, ctx) => {
    if (idp.metadata !== undefined) return;
    // Without metadata the three facts it would supply must all be written down.
    if (idp.entityId === undefined)
      ctx.addIssue({ code: 'custom', path: ['entityId'], message: 'required when no metadata is given' });
    if (idp.entryPoint === undefined)
      ctx.addIssue({ code: 'custom', path: ['entryPoint'], message: 'required when no metadata is given' });
    if (idp.certificates.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['certificates'],
        message: 'at least one signing certificate is required when no metadata is given',
      });
  });

export const idpSchema = z.discriminatedUnion('type', [oidcIdpSchema, samlIdpSchema]);

const devIdpSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Serve the embedded development OpenID provider at <publicUrl>/dev-idp (demo users with published passwords, a demo workload client) and add it to idps as `dev` (unless an idp with that id is listed). Development mode only.',
      ),
  })
  .prefault({})
  .describe('The embedded development identity provider, for trying fedproxy without a real IdP.');

export const roleSchema = z
  .strictObject({
    name: z.string().min(1).max(64).regex(awsName, 'letters, digits and +=,.@_- only'),
    description: z.string().default('').describe('Shown to users choosing a role.'),
    policy: policyDocumentSchema
      .superRefine((policy, ctx) => {
        // A template with an unknown or malformed variable would fail every request with a 403:
        // refuse it at start instead.
        try {
          checkPolicyTemplate(policy);
        } catch (error) {
          if (!(error instanceof PolicyTemplateError)) throw error;
          ctx.addIssue({ code: 'custom', message: error.message });
        }
        for (const problem of validatePolicyForEvaluation(policy))
          ctx.addIssue({ code: 'custom', message: `${problem.path}: ${problem.message}` });
      })
      .describe('IAM policy template; ${fed:...} variables are filled in per user.'),
    maxSessionDuration: z
      .int()
      .min(900)
      .max(43_200)
      .default(3600)
      .describe('Longest credential lifetime, seconds.'),
    defaultSessionDuration: z
      .int()
      .min(900)
      .max(43_200)
      .optional()
      .describe('Lifetime when the caller does not ask; defaults to min(3600, maxSessionDuration).'),
  })
  .refine((r) => r.defaultSessionDuration === undefined || r.defaultSessionDuration <= r.maxSessionDuration, {
    message: 'defaultSessionDuration exceeds maxSessionDuration',
    path: ['defaultSessionDuration'],
  });

export const mappingSchema = z
  .strictObject({
    idp: idpId.optional().describe('Only identities of this IdP; any IdP when absent.'),
    group: z.string().min(1).optional().describe('Exact group name.'),
    groupPattern: z
      .string()
      .min(1)
      .optional()
      .describe('Glob over group names: * matches any run of characters, ? one character.'),
    roles: z.array(z.string().min(1)).min(1).describe('Roles this mapping grants.'),
  })
  .refine((m) => (m.group === undefined) !== (m.groupPattern === undefined), {
    message: 'a mapping needs exactly one of group or groupPattern',
  });

export const serviceAccountSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[\w+=,.@-]{1,48}$/, 'letters, digits and +=,.@_- only, at most 48 characters')
    .describe('Shown in audit records and in the role of the sessions it creates (federation:<name>).'),
  accessKeyId: z
    .string()
    .regex(/^AKIA[A-Z2-7]{16}$/, 'AKIA followed by 16 base32 characters')
    .describe('The long-term access key id (`fedproxy service-accounts generate` makes one).'),
  secretAccessKey: z
    .string()
    .min(40)
    .max(128)
    .describe('Its secret; write ${env:NAME} here, never the literal.'),
  policy: policyDocumentSchema
    .superRefine((policy, ctx) => {
      for (const problem of validatePolicyForEvaluation(policy))
        ctx.addIssue({ code: 'custom', message: `${problem.path}: ${problem.message}` });
    })
    .describe(
      'The most its federated users may do: their permissions are this policy intersected with the one they pass.',
    ),
  maxSessionDuration: z
    .int()
    .min(900)
    .max(43_200)
    .default(43_200)
    .describe('Longest GetFederationToken lifetime, seconds.'),
});

const adminSchema = z
  .strictObject({
    groups: z
      .array(z.string().min(1))
      .default([])
      .describe('IdP groups whose members may use the admin API (/admin/v1).'),
    tokens: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          sha256: z.string().regex(/^[0-9a-f]{64}$/, 'hex SHA-256 of the token'),
        }),
      )
      .default([])
      .describe('Admin API tokens (Bearer), stored as the hex SHA-256 of the token.'),
  })
  .prefault({});

const sessionSchema = z
  .strictObject({
    idleTimeoutSeconds: z
      .int()
      .min(60)
      .max(86_400)
      .default(3600)
      .describe('A browser login session ends after this long without use.'),
    absoluteTimeoutSeconds: z
      .int()
      .min(300)
      .max(7 * 86_400)
      .default(43_200)
      .describe('A browser login session ends this long after sign-in, used or not.'),
  })
  .prefault({});

const rateLimitsSchema = z
  .strictObject({
    signInPerMinutePerIp: z
      .int()
      .min(1)
      .default(60)
      .describe('Sign-in starts and callbacks per client address per minute.'),
    mintPerMinutePerIp: z
      .int()
      .min(1)
      .default(6000)
      .describe('Credential requests per client address per minute (shared by every instance).'),
    mintPerMinutePerPrincipal: z
      .int()
      .min(1)
      .default(1200)
      .describe('Credential requests per principal per minute; reused sessions count too.'),
  })
  .prefault({});

const revocationSchema = z
  .strictObject({
    maxStalenessMs: z
      .int()
      .min(0)
      .max(60_000)
      .default(1000)
      .describe('How long an instance may trust a cached liveness answer; 0 asks the store every time.'),
  })
  .prefault({});

const templatesSchema = z
  .strictObject({
    maxValueLength: z
      .int()
      .min(1)
      .max(1024)
      .default(128)
      .describe('Longest identity value substituted into a policy template.'),
  })
  .prefault({});

const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    pretty: z.boolean().default(false).describe('Human-readable logs (dev); JSON lines otherwise.'),
  })
  .prefault({});

/** One cross-check failure, with its path from the root that holds `roles` and `mappings`. */
export interface RoleAndMappingProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The checks that span roles and mappings (each already valid on its own): role names are unique, every
 * role a mapping names exists, and, when `idps` is given, every mapping's idp is one of them. Shared by
 * the configuration file and the role catalog (roles and mappings edited through the admin API).
 */
export function roleAndMappingProblems(
  roles: readonly Pick<RoleConfig, 'name'>[],
  mappings: readonly Pick<MappingConfig, 'idp' | 'roles'>[],
  idps?: ReadonlySet<string>,
): RoleAndMappingProblem[] {
  const problems: RoleAndMappingProblem[] = [];
  const names = new Set<string>();
  roles.forEach((role, i) => {
    if (names.has(role.name))
      problems.push({ path: ['roles', i, 'name'], message: `duplicate role "${role.name}"` });
    names.add(role.name);
  });
  mappings.forEach((mapping, i) => {
    if (idps !== undefined && mapping.idp !== undefined && !idps.has(mapping.idp))
      problems.push({ path: ['mappings', i, 'idp'], message: `unknown idp "${mapping.idp}"` });
    mapping.roles.forEach((role, j) => {
      if (!names.has(role))
        problems.push({ path: ['mappings', i, 'roles', j], message: `unknown role "${role}"` });
    });
  });
  return problems;
}

export const configSchema = z
  .strictObject({
    mode: z
      .enum(['production', 'development'])
      .default('production')
      .describe('development allows dev-only settings (memory store, ephemeral keys); set by `serve --dev`.'),
    accountId: z
      .string()
      .regex(/^\d{12}$/, '12 digits')
      .default('000000000000')
      .describe('Account id used in ARNs.'),
    server: serverSchema,
    store: storeSchema,
    keys: keysSchema,
    credentials: credentialsSchema,
    idps: z.array(idpSchema).default([]).describe('Identity providers: OpenID Connect and SAML 2.0.'),
    devIdp: devIdpSchema,
    roles: z
      .array(roleSchema)
      .default([])
      .describe(
        'Roles. Seed the store on first start; after that the admin API changes them (/admin/v1/roles).',
      ),
    mappings: z
      .array(mappingSchema)
      .default([])
      .describe('Group-to-role mappings. Seed the store on first start, like roles (/admin/v1/mappings).'),
    admin: adminSchema,
    verifiers: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe('The resource service, for logs and audit.'),
          sha256: z.string().regex(/^[0-9a-f]{64}$/, 'hex SHA-256 of the token'),
        }),
      )
      .default([])
      .describe(
        'Resource services allowed to call POST /v1/authorize: Bearer tokens, stored as their hex SHA-256.',
      ),
    serviceAccounts: z
      .array(serviceAccountSchema)
      .default([])
      .describe('Long-term keys allowed to call STS GetFederationToken, each with its own policy.'),
    session: sessionSchema,
    rateLimits: rateLimitsSchema,
    revocation: revocationSchema,
    templates: templatesSchema,
    log: logSchema,
  })
  .superRefine((config, ctx) => {
    const accountNames = new Set<string>();
    const accountKeys = new Set<string>();
    config.serviceAccounts.forEach((account, i) => {
      if (accountNames.has(account.name))
        ctx.addIssue({
          code: 'custom',
          path: ['serviceAccounts', i, 'name'],
          message: 'duplicate service account name',
        });
      if (accountKeys.has(account.accessKeyId))
        ctx.addIssue({
          code: 'custom',
          path: ['serviceAccounts', i, 'accessKeyId'],
          message: 'duplicate access key id',
        });
      accountNames.add(account.name);
      accountKeys.add(account.accessKeyId);
    });
    const idps = new Set<string>();
    config.idps.forEach((idp, i) => {
      if (idps.has(idp.id))
        ctx.addIssue({ code: 'custom', path: ['idps', i, 'id'], message: `duplicate idp id "${idp.id}"` });
      idps.add(idp.id);
    });
    // The loader adds the embedded development IdP after validation; mappings may already name it.
    if (config.devIdp.enabled) idps.add(DEV_IDP_ID);
    for (const issue of roleAndMappingProblems(config.roles, config.mappings, idps))
      ctx.addIssue({ code: 'custom', ...issue });
  });

/** The configuration as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated configuration with every default filled in. */
export type Config = z.output<typeof configSchema>;
export type IdpConfig = z.output<typeof idpSchema>;
export type OidcIdpConfig = Extract<IdpConfig, { type: 'oidc' }>;
export type SamlIdpConfig = Extract<IdpConfig, { type: 'saml' }>;
export type RoleConfig = z.output<typeof roleSchema>;
export type MappingConfig = z.output<typeof mappingSchema>;
export type ServiceAccountConfig = z.output<typeof serviceAccountSchema>;
