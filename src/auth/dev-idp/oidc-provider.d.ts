/**
 * The part of oidc-provider 9 that the development IdP uses. oidc-provider ships no TypeScript types;
 * `@types/oidc-provider` exists (9.12.x, pulls @types/koa and @types/keygrip) — if it is installed, delete
 * this file. Kept deliberately small: only what src/auth/dev-idp/ calls, typed as the package documents it.
 */
declare module 'oidc-provider' {
  import type { EventEmitter } from 'node:events';
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type UnknownObject = Record<string, unknown>;

  /** The Koa context oidc-provider passes to its configuration functions (the parts used here). */
  export interface KoaContextWithOIDC {
    status: number;
    type: string;
    body: unknown;
    readonly host: string;
    set(field: string, value: string): void;
    readonly oidc: {
      readonly client?: { readonly clientId: string } | undefined;
      readonly result?: { login?: unknown; consent?: unknown } | undefined;
    };
  }

  export interface Account {
    accountId: string;
    claims(
      use: string,
      scope: string,
      claims: unknown,
      rejected: string[],
    ): UnknownObject | Promise<UnknownObject>;
  }

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    client_name?: string;
    redirect_uris?: string[];
    grant_types?: string[];
    response_types?: string[];
    token_endpoint_auth_method?: string;
    [key: string]: unknown;
  }

  export interface ResourceServer {
    scope: string;
    audience?: string;
    accessTokenTTL?: number;
    accessTokenFormat?: 'opaque' | 'jwt';
    jwt?: { sign?: { alg?: string } };
  }

  export interface JWK {
    kty: string;
    kid?: string;
    alg?: string;
    use?: string;
    [key: string]: unknown;
  }

  /** A token model as `extraTokenClaims` sees it. */
  export interface IssuedToken {
    readonly kind: string;
    readonly clientId?: string;
  }

  export interface Check {
    readonly reason: string;
  }
  export const Check: {
    readonly REQUEST_PROMPT: true;
    readonly NO_NEED_TO_PROMPT: false;
    new (
      reason: string,
      description: string,
      error: string,
      check: (ctx: KoaContextWithOIDC) => boolean,
    ): Check;
  };

  export interface Prompt {
    readonly name: string;
    readonly checks: Check[];
  }

  export interface Policy extends Array<Prompt> {
    get(name: string): Prompt | undefined;
  }

  export const interactionPolicy: {
    Check: typeof Check;
    base(): Policy;
  };

  export interface Configuration {
    adapter?: (model: string) => unknown;
    clients?: ClientMetadata[];
    jwks?: { keys: JWK[] };
    cookies?: { keys?: string[] };
    claims?: Record<string, string[] | null>;
    scopes?: string[];
    conformIdTokenClaims?: boolean;
    responseTypes?: string[];
    pkce?: { required?: (ctx: KoaContextWithOIDC, client: unknown) => boolean; methods?: string[] };
    findAccount?: (
      ctx: KoaContextWithOIDC,
      sub: string,
      token?: unknown,
    ) => Account | undefined | Promise<Account | undefined>;
    extraTokenClaims?: (
      ctx: KoaContextWithOIDC,
      token: IssuedToken,
    ) => UnknownObject | undefined | Promise<UnknownObject | undefined>;
    interactions?: {
      url?: (ctx: KoaContextWithOIDC, interaction: { uid: string }) => string | Promise<string>;
      policy?: Policy;
    };
    features?: {
      devInteractions?: { enabled: boolean };
      clientCredentials?: { enabled: boolean };
      introspection?: { enabled: boolean };
      revocation?: { enabled: boolean };
      resourceIndicators?: {
        enabled: boolean;
        defaultResource?: (
          ctx: KoaContextWithOIDC,
          client: { clientId: string },
          oneOf?: string[],
        ) => string | string[] | undefined | Promise<string | string[] | undefined>;
        getResourceServerInfo?: (
          ctx: KoaContextWithOIDC,
          resourceIndicator: string,
          client: { clientId: string },
        ) => ResourceServer | Promise<ResourceServer>;
        useGrantedResource?: (ctx: KoaContextWithOIDC, model: unknown) => boolean | Promise<boolean>;
      };
      rpInitiatedLogout?: {
        enabled: boolean;
        logoutSource?: (ctx: KoaContextWithOIDC, form: string) => void | Promise<void>;
        postLogoutSuccessSource?: (ctx: KoaContextWithOIDC) => void | Promise<void>;
      };
    };
    clientBasedCORS?: (ctx: KoaContextWithOIDC, origin: string, client: unknown) => boolean;
    renderError?: (
      ctx: KoaContextWithOIDC,
      out: Record<string, string>,
      error: Error,
    ) => void | Promise<void>;
    ttl?: Record<string, number>;
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly returnTo: string;
    readonly prompt: {
      readonly name: string;
      readonly reasons: string[];
      readonly details: {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
    };
    readonly params: UnknownObject;
    readonly session?: { readonly accountId: string; readonly uid: string } | undefined;
    readonly grantId?: string | undefined;
  }

  export interface InteractionResults {
    login?: { accountId: string; amr?: string[]; remember?: boolean };
    consent?: { grantId: string };
    error?: string;
    error_description?: string;
  }

  export interface Grant {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export class Provider extends EventEmitter {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Grant: {
      new (properties: { accountId: string; clientId: string }): Grant;
      find(id: string): Promise<Grant | undefined>;
    };
    /** Koa middleware, run before oidc-provider's own routes. */
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): this;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error;
    SessionNotFound: new (description?: string) => Error;
  };

  export default Provider;
}

/** The package's own in-memory adapter, constructed explicitly (see provider.ts for why). */
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  export function createMemoryAdapter(clockTolerance?: number): (model: string) => unknown;
}
