import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  generateServiceProviderMetadata,
  SAML,
  SamlStatusError,
  ValidateInResponseTo,
  type CacheProvider,
  type SamlConfig,
} from '@node-saml/node-saml';
import { decrypt } from 'xml-encryption';
import type { Clock } from '../../clock.js';
import type { IdpConfig, SamlIdpConfig } from '../../config/schema.js';
import { AppError, IdpUnreachableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/types.js';
import type { Identity } from '../identity.js';
import { bindingMatches, newBrowserBinding } from '../secret-compare.js';
import { isAllowedIdpUrl } from '../oidc/transport.js';
import { checkSignatureAlgorithms } from './algorithms.js';
import { identityFromAssertion } from './identity-mapping.js';
import { parseIdpMetadata, type IdpDescriptor } from './idp-metadata.js';
import { loadCertificate, loadPrivateKey } from './key-material.js';
import { readPostedResponse, type PostedResponse } from './posted-response.js';
import { quoted, SamlResponseError } from './refusal.js';
import { readSignedAssertion, type SignedAssertion } from './signed-assertion.js';
import { parseStrictXml, XmlRefusedError } from './strict-xml.js';

/** How long a started sign-in waits for the IdP's answer (the AuthnRequest id stays usable this long). */
export const REQUEST_TTL_MS = 10 * 60_000;
/** OnceStore namespaces: pending AuthnRequest ids, and assertion ids already accepted (replay cache). */
export const REQUEST_NAMESPACE = 'saml-request';
export const ASSERTION_NAMESPACE = 'saml-assertion';
/** After a failed metadata refresh, the previous metadata stays in use and the fetch is retried this much later. */
const METADATA_RETRY_MS = 5 * 60_000;
const METADATA_MAX_BYTES = 5 * 1024 * 1024;
const ENTITY_FORMAT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';
const NAMEID_FORMAT_PREFIX = 'urn:oasis:names:tc:SAML:2.0:nameid-format:';

interface PendingRequest {
  idp: string;
  returnTo: string;
  /** SHA-256 of the browser binding (HTTPS only; see startSignIn). */
  binding?: string;
}

/** The IdP as resolved from metadata and configuration, with node-saml options built for it. */
interface ResolvedIdp {
  entityId: string;
  entryPoint: string;
  options: SamlConfig;
  /**
   * Validators (never used to generate requests: those get their own instance, see startSignIn).
   * `signedResponse` requires a valid Response signature and is used whenever the Response carries one
   * (node-saml would otherwise ignore a Response signature that does not verify) or the IdP's settings
   * demand one; `unsignedResponse` only for a Response without a Signature element.
   */
  validators: { signedResponse: SAML; unsignedResponse: SAML };
}

/** Key material read when the server starts. */
interface LoadedKeys {
  signing: { key: string; certificate: string } | undefined;
  decryption: { key: string; certificate: string } | undefined;
  /** Configured IdP certificates (pinned: when present, metadata certificates are not used). */
  idpCertificates: string[];
}

export interface SamlServiceProviderDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** `server.publicUrl`, without a trailing slash. */
  publicUrl: string;
  /** For metadata URLs; the global fetch by default. */
  fetch?: typeof fetch;
}

/** What AssumeRoleWithSAML needs from a validated response, besides the identity. */
export interface AssumeRoleSamlResult {
  identity: Identity;
  /** The IdP entity ID (AWS: `Issuer`; with the account id and provider name it makes `NameQualifier`). */
  issuer: string;
  /** Our entity ID, the audience the assertion named (AWS: `Audience`). */
  audience: string;
  /** The NameID (or configured subject attribute) (AWS: `Subject`). */
  subject: string;
  /** AWS's `SubjectType`: the NameID format without the SAML 2.0 prefix (`persistent`, `transient`), else as sent. */
  subjectType: string;
  assertionId: string;
  /** When the assertion stops being acceptable (ms since epoch). */
  notOnOrAfter: number;
}

/**
 * node-saml's InResponseTo cache is never used: fedproxy checks InResponseTo itself, against the store
 * (shared by every instance), and only consumes a request id when a fully valid response answers it.
 * This provider makes any accidental use fail loudly instead of silently keeping per-process state.
 */
const noCacheProvider: CacheProvider = {
  saveAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
  getAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
  removeAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
};

/**
 * The SAML 2.0 service provider for one configured IdP: SP-initiated sign-in (HTTP-Redirect AuthnRequest),
 * the ACS (HTTP-POST response), SP metadata, and validation of a posted response for AssumeRoleWithSAML.
 *
 * Built on @node-saml/node-saml's `SAML` class directly rather than through passport-saml's Strategy:
 * the Strategy also accepts logout requests and responses (query or POST) on the same endpoint, expects
 * passport sessions for them, and offers no hook between signature verification and success; this flow
 * needs fedproxy's checks on both sides of node-saml's, store-backed InResponseTo, and the same validator
 * for the STS path, which has no Express request at all. passport adds nothing with `session: false`.
 *
 * A response is accepted only when all of these hold (in this order; the first failure is the reason):
 *
 * 1. pre-crypto (posted-response.ts): size, base64, UTF-8, strict XML, a success status, one assertion in
 *    its place, signatures only where they belong, unique IDs, allowed algorithms;
 * 2. node-saml (strict options): assertion signature by a *configured* certificate (xml-crypto 6 ignores
 *    KeyInfo), the Response signature when `wantAuthnResponseSigned` or whenever the Response carries
 *    one (a present signature must verify), decryption, Conditions times with the configured skew,
 *    Audience = our entity ID;
 * 3. on the signed bytes only (signed-assertion.ts): assertion Issuer = IdP entity ID (node-saml 5.1 does
 *    not compare it), Response Issuer (when present) likewise, Response Destination and bearer Recipient
 *    = our endpoint, Conditions and bearer NotBefore/NotOnOrAfter and IssueInstant against fedproxy's
 *    clock, Audience again, SessionNotOnOrAfter not passed, signature algorithms inside an encrypted
 *    assertion;
 * 4. InResponseTo (ACS only): taken from the signed bearer confirmation (or from the Response when the
 *    Response is signed); it must name a pending request of this IdP in the store. Without one, the
 *    response is unsolicited and accepted only with `allowIdpInitiated`;
 * 5. the identity maps (identity-mapping.ts);
 * 6. replay: the assertion id is recorded with `putIfAbsent` until the assertion expires; of two
 *    concurrent posts exactly one records it, the other is refused;
 * 7. the pending request is consumed with `take` (atomic): only now, so a forged or broken post that
 *    names a victim's request id cannot cancel the victim's sign-in (node-saml forgets the id on any
 *    failure); the request stays usable until a valid response uses it or it expires. Of two different
 *    valid responses to one request, one wins the `take`.
 */
export class SamlServiceProvider {
  /** Our entity ID towards this IdP: the audience its assertions must name. */
  readonly entityId: string;
  readonly acsUrl: string;
  readonly metadataUrl: string;
  /** The STS endpoint, accepted as Destination/Recipient on the AssumeRoleWithSAML path. */
  readonly stsUrl: string;

  #current: ResolvedIdp | undefined;
  #loading: Promise<ResolvedIdp> | undefined;
  #refreshAt = 0;

  private constructor(
    readonly idp: SamlIdpConfig,
    private readonly keys: LoadedKeys,
    private readonly deps: SamlServiceProviderDeps,
  ) {
    this.acsUrl = `${deps.publicUrl}/auth/saml/${idp.id}/acs`;
    this.metadataUrl = `${deps.publicUrl}/auth/saml/${idp.id}/metadata`;
    this.stsUrl = `${deps.publicUrl}/sts`;
    this.entityId = idp.spEntityId ?? this.metadataUrl;
  }

  /**
   * Reads every key, certificate and metadata file the IdP's settings name, so configuration mistakes
   * stop the start. A metadata URL is fetched when first needed and refreshed after `metadataMaxAgeSeconds`.
   */
  static async create(idp: SamlIdpConfig, deps: SamlServiceProviderDeps): Promise<SamlServiceProvider> {
    const at = `idps[${idp.id}]`;
    const pair = async (value: { key: string; certificate: string } | undefined, name: string) =>
      value === undefined
        ? undefined
        : {
            key: await loadPrivateKey(value.key, `${at}.${name}.key`),
            certificate: await loadCertificate(value.certificate, `${at}.${name}.certificate`),
          };
    const keys: LoadedKeys = {
      signing: await pair(idp.signing, 'signing'),
      decryption: await pair(idp.decryption, 'decryption'),
      idpCertificates: await Promise.all(
        idp.certificates.map((c, i) => loadCertificate(c, `${at}.certificates[${i}]`)),
      ),
    };
    let descriptor: IdpDescriptor | undefined;
    if (idp.metadata !== undefined && !isMetadataUrl(idp.metadata)) {
      try {
        const xml = await readFile(idp.metadata, 'utf8');
        descriptor = parseIdpMetadata(xml, { now: deps.clock.now(), ...optionalEntityId(idp) });
      } catch (error) {
        throw new Error(`${at}.metadata: ${(error as Error).message}`, { cause: error });
      }
    }
    const provider = new SamlServiceProvider(idp, keys, deps);
    if (idp.metadata === undefined || descriptor !== undefined) {
      provider.#current = provider.resolve(descriptor);
      provider.#refreshAt = Number.POSITIVE_INFINITY;
    }
    return provider;
  }

  /**
   * Begins an SP-initiated sign-in: stores a fresh request id (single use, REQUEST_TTL_MS) with where the
   * user wants to go, and returns the IdP URL carrying the AuthnRequest (HTTP-Redirect binding; signed
   * with RSA-SHA256 when `signing` is configured).
   */
  async startSignIn(
    returnTo: string,
    options: { bindToBrowser?: boolean } = {},
  ): Promise<{ redirectTo: string; requestId: string; binding?: string }> {
    const idp = await this.resolvedIdp();
    // An NCName, as SAML IDs must be: a letter or underscore first.
    const requestId = `_${randomBytes(20).toString('hex')}`;
    // Login CSRF: the response to this request is accepted only from the browser holding the binding
    // cookie. The IdP's POST is cross-site, so the cookie must be SameSite=None, which browsers accept
    // only with Secure: on plain-HTTP (loopback) deployments the request is not bound.
    const binding = options.bindToBrowser ? newBrowserBinding() : undefined;
    const pending: PendingRequest = {
      idp: this.idp.id,
      returnTo,
      ...(binding === undefined ? {} : { binding: binding.stored }),
    };
    await this.deps.store.once.putIfAbsent(
      REQUEST_NAMESPACE,
      requestId,
      JSON.stringify(pending),
      REQUEST_TTL_MS,
    );
    // A SAML instance per request, so the id is the one just stored (node-saml draws ids from an option).
    const generator = new SAML({ ...idp.options, generateUniqueId: () => requestId });
    const redirectTo = await generator.getAuthorizeUrlAsync('', undefined, {});
    return { redirectTo, requestId, ...(binding === undefined ? {} : { binding: binding.value }) };
  }

  /**
   * Completes a sign-in at the ACS. Returns the identity and the returnTo stored with the request; for an
   * accepted unsolicited response `returnTo` is undefined (the route may use a safe RelayState).
   */
  async finishSignIn(
    samlResponse: string,
    binding?: string,
  ): Promise<{ identity: Identity; returnTo: string | undefined }> {
    const posted = readPostedResponse(samlResponse, this.idp.maxResponseBytes);
    const { assertion, identity } = await this.validate(posted, [this.acsUrl]);
    const requestId = this.inResponseTo(posted, assertion);
    if (requestId === undefined && !this.idp.allowIdpInitiated)
      throw new SamlResponseError(
        'unsolicited',
        'no InResponseTo: an unsolicited (IdP-initiated) response, and allowIdpInitiated is off for this IdP',
      );
    await this.recordAssertion(assertion);
    const pending = requestId === undefined ? undefined : await this.completeRequest(requestId, binding);
    return { identity, returnTo: pending?.returnTo };
  }

  /**
   * Validates a base64 SAML response posted by a client for AssumeRoleWithSAML (saml2aws, the AWS CLI):
   * every check of the ACS except InResponseTo, which names a request of another party (or none); the
   * response is unsolicited by nature, so `allowIdpInitiated` does not apply here. Destination and
   * Recipient may be our ACS URL or `<publicUrl>/sts`. The replay cache is shared with the ACS: an
   * assertion is accepted once, on either path.
   */
  async validateForAssumeRole(samlResponse: string): Promise<AssumeRoleSamlResult> {
    const posted = readPostedResponse(samlResponse, this.idp.maxResponseBytes);
    const { assertion, identity, entityId } = await this.validate(posted, [this.acsUrl, this.stsUrl]);
    const notOnOrAfter = await this.recordAssertion(assertion);
    const format = assertion.nameIdFormat;
    return {
      identity,
      issuer: entityId,
      audience: this.entityId,
      subject: identity.subject,
      subjectType:
        format === undefined
          ? 'unspecified'
          : format.startsWith(NAMEID_FORMAT_PREFIX)
            ? format.slice(NAMEID_FORMAT_PREFIX.length)
            : format,
      assertionId: assertion.id,
      notOnOrAfter,
    };
  }

  /** SP metadata: entity ID, the ACS (HTTP-POST), the signing and encryption certificates when configured. */
  metadataXml(): string {
    const { signing, decryption } = this.keys;
    return generateServiceProviderMetadata({
      issuer: this.entityId,
      callbackUrl: this.acsUrl,
      identifierFormat: this.idp.nameIdFormat ?? null,
      wantAssertionsSigned: true,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      ...(signing === undefined ? {} : { privateKey: signing.key, publicCerts: [signing.certificate] }),
      ...(decryption === undefined
        ? {}
        : { decryptionPvk: decryption.key, decryptionCert: decryption.certificate }),
    });
  }

  /** Steps 2 and 3 of the class comment, and the identity. */
  private async validate(
    posted: PostedResponse,
    endpoints: readonly string[],
  ): Promise<{ assertion: SignedAssertion; identity: Identity; entityId: string }> {
    const idp = await this.resolvedIdp();
    let assertionXml: string;
    try {
      const validator =
        this.idp.wantAuthnResponseSigned || posted.hasResponseSignature
          ? idp.validators.signedResponse
          : idp.validators.unsignedResponse;
      const { profile } = await validator.validatePostResponseAsync({ SAMLResponse: posted.base64 });
      if (profile === null || typeof profile.getAssertionXml !== 'function')
        throw new SamlResponseError('assertion', 'the response holds no assertion');
      assertionXml = profile.getAssertionXml();
    } catch (error) {
      throw refusalFromNodeSaml(error);
    }
    if (posted.encryptedAssertionXml !== undefined)
      await this.checkDecryptedAlgorithms(posted.encryptedAssertionXml);
    const assertion = readSignedAssertion(assertionXml);

    const { entityId } = idp;
    if (assertion.issuer !== entityId)
      throw new SamlResponseError(
        'issuer',
        `assertion Issuer ${quoted(assertion.issuer)}, expected ${quoted(entityId)}`,
      );
    if (assertion.issuerFormat !== undefined && assertion.issuerFormat !== ENTITY_FORMAT)
      throw new SamlResponseError('issuer', `assertion Issuer Format ${quoted(assertion.issuerFormat)}`);
    if (posted.issuer !== undefined && posted.issuer !== entityId)
      throw new SamlResponseError(
        'issuer',
        `Response Issuer ${quoted(posted.issuer)}, expected ${quoted(entityId)}`,
      );
    if (posted.destination === undefined || !endpoints.includes(posted.destination))
      throw new SamlResponseError(
        'destination',
        `Destination ${quoted(posted.destination)}, expected ${quoted(endpoints.join(' or '))}`,
      );
    const { confirmation, conditions } = assertion;
    if (confirmation.recipient === undefined || !endpoints.includes(confirmation.recipient))
      throw new SamlResponseError(
        'recipient',
        `Recipient ${quoted(confirmation.recipient)}, expected ${quoted(endpoints.join(' or '))}`,
      );
    if (
      conditions.audienceRestrictions.length === 0 ||
      conditions.audienceRestrictions.some((audiences) => !audiences.includes(this.entityId))
    )
      throw new SamlResponseError('audience', `the assertion is not for ${quoted(this.entityId)}`);

    const now = this.deps.clock.now();
    const skew = this.idp.clockSkewSeconds * 1000;
    const notBefore = (value: number | undefined, what: string) => {
      if (value !== undefined && now + skew < value)
        throw new SamlResponseError(
          'not-yet-valid',
          `${what} is ${new Date(value).toISOString()}, now is ${new Date(now).toISOString()}`,
        );
    };
    const notOnOrAfter = (value: number | undefined, what: string) => {
      if (value !== undefined && now - skew >= value)
        throw new SamlResponseError(
          'expired',
          `${what} was ${new Date(value).toISOString()}, now is ${new Date(now).toISOString()}`,
        );
    };
    if (confirmation.notOnOrAfter === undefined)
      throw new SamlResponseError('assertion', 'the bearer SubjectConfirmationData has no NotOnOrAfter');
    notBefore(assertion.issueInstant, 'IssueInstant');
    notBefore(conditions.notBefore, 'Conditions NotBefore');
    notBefore(confirmation.notBefore, 'SubjectConfirmationData NotBefore');
    notOnOrAfter(conditions.notOnOrAfter, 'Conditions NotOnOrAfter');
    notOnOrAfter(confirmation.notOnOrAfter, 'SubjectConfirmationData NotOnOrAfter');
    notOnOrAfter(assertion.sessionNotOnOrAfter, 'SessionNotOnOrAfter');

    return { assertion, identity: identityFromAssertion(this.idp, entityId, assertion), entityId };
  }

  /**
   * The request id this response answers, from signed bytes only: the bearer confirmation's InResponseTo,
   * or the Response's when the Response carries a signature (which validate() then required to verify).
   * Both present and different, or only an unsigned one: refused.
   */
  private inResponseTo(posted: PostedResponse, assertion: SignedAssertion): string | undefined {
    const signedByConfirmation = assertion.confirmation.inResponseTo;
    const onResponse = posted.inResponseTo;
    if (signedByConfirmation !== undefined && onResponse !== undefined && signedByConfirmation !== onResponse)
      throw new SamlResponseError(
        'in-response-to',
        'the Response and the assertion answer different requests',
      );
    if (signedByConfirmation !== undefined) return signedByConfirmation;
    if (onResponse === undefined) return undefined;
    if (!posted.hasResponseSignature)
      throw new SamlResponseError('in-response-to', 'InResponseTo is only on the unsigned Response');
    return onResponse;
  }

  /**
   * Consumes the pending request a valid response answers: it must exist and belong to this IdP, and of
   * concurrent responses to it only one gets it (`take` is atomic).
   */
  private async completeRequest(requestId: string, binding: string | undefined): Promise<PendingRequest> {
    const unknown = () =>
      new SamlResponseError(
        'in-response-to',
        `InResponseTo ${quoted(requestId)} is not a pending request of this IdP (unknown, expired or completed)`,
      );
    if (!/^_[0-9a-f]{40}$/.test(requestId)) throw unknown();
    const stored = await this.deps.store.once.get(REQUEST_NAMESPACE, requestId);
    const pendingRequest = stored === null ? null : (JSON.parse(stored) as PendingRequest);
    if (pendingRequest === null || pendingRequest.idp !== this.idp.id) throw unknown();
    // Checked before the request is consumed, so a post from another browser cannot cancel it.
    if (pendingRequest.binding !== undefined && !bindingMatches(pendingRequest.binding, binding)) {
      throw new SamlResponseError('in-response-to', 'the sign-in was started in another browser', {
        clientMessage: 'This sign-in was started in another browser; start again from the sign-in page',
      });
    }
    const taken = await this.deps.store.once.take(REQUEST_NAMESPACE, requestId);
    if (taken === null)
      throw new SamlResponseError(
        'in-response-to',
        `request ${quoted(requestId)} was completed by another response`,
      );
    return JSON.parse(taken) as PendingRequest;
  }

  /**
   * The replay cache: records the assertion id (per issuer) until the assertion can no longer be accepted
   * anyway (its latest NotOnOrAfter plus the skew). Returns that time.
   */
  private async recordAssertion(assertion: SignedAssertion): Promise<number> {
    const now = this.deps.clock.now();
    const until =
      Math.max(assertion.conditions.notOnOrAfter ?? 0, assertion.confirmation.notOnOrAfter ?? 0) +
      this.idp.clockSkewSeconds * 1000;
    const key = createHash('sha256')
      .update(assertion.issuer)
      .update('\0')
      .update(assertion.id)
      .digest('base64url');
    const first = await this.deps.store.once.putIfAbsent(
      ASSERTION_NAMESPACE,
      key,
      JSON.stringify({ idp: this.idp.id, at: now }),
      Math.max(1000, until - now),
    );
    if (!first)
      throw new SamlResponseError('replay', `assertion ${quoted(assertion.id)} was accepted before`);
    return until;
  }

  /**
   * The signature inside an encrypted assertion is invisible before decryption, so after node-saml has
   * verified it the assertion is decrypted once more, here, to check its algorithms.
   */
  private async checkDecryptedAlgorithms(encryptedAssertionXml: string): Promise<void> {
    const key = this.keys.decryption?.key;
    if (key === undefined)
      throw new SamlResponseError('decryption', 'encrypted assertion, but no decryption key');
    const decrypted = await new Promise<string>((resolve, reject) =>
      decrypt(
        encryptedAssertionXml,
        { key, disallowDecryptionWithInsecureAlgorithm: true, warnInsecureAlgorithm: false },
        (error, result) => (error ? reject(error) : resolve(result)),
      ),
    ).catch((error: unknown) => {
      throw new SamlResponseError(
        'decryption',
        `decryption failed: ${(error as Error).message.slice(0, 160)}`,
      );
    });
    try {
      checkSignatureAlgorithms(parseStrictXml(decrypted, { allowComments: false }));
    } catch (error) {
      if (error instanceof XmlRefusedError)
        throw new SamlResponseError('xml', `the decrypted assertion ${error.message}`);
      throw error;
    }
  }

  /** The resolved IdP; a metadata URL is fetched on first use and again after its max age. */
  private async resolvedIdp(): Promise<ResolvedIdp> {
    if (this.#current !== undefined && this.deps.clock.now() < this.#refreshAt) return this.#current;
    this.#loading ??= this.fetchMetadata()
      .then((descriptor) => {
        const resolved = this.resolve(descriptor);
        this.#current = resolved;
        this.#refreshAt = this.deps.clock.now() + this.idp.metadataMaxAgeSeconds * 1000;
        return resolved;
      })
      .catch((error: unknown) => {
        const previous = this.#current;
        if (previous !== undefined) {
          this.deps.logger.warn(
            { event: 'saml.metadata.refresh-failed', idp: this.idp.id, reason: (error as Error).message },
            'SAML IdP metadata refresh failed; keeping the previous metadata',
          );
          this.#refreshAt = this.deps.clock.now() + METADATA_RETRY_MS;
          return previous;
        }
        throw new IdpUnreachableError('The identity provider metadata could not be loaded', { cause: error });
      })
      .finally(() => {
        this.#loading = undefined;
      });
    return this.#loading;
  }

  private async fetchMetadata(): Promise<IdpDescriptor> {
    const url = this.idp.metadata ?? '';
    if (!isAllowedIdpUrl(url)) throw new Error('metadata URLs must be https (http only on loopback)');
    const response = await (this.deps.fetch ?? fetch)(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
      headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
    });
    if (!response.ok || response.body === null) throw new Error(`metadata URL answered ${response.status}`);
    // Read with a bound: an aggregate or a hostile endpoint must not fill the memory.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      size += read.value.byteLength;
      if (size > METADATA_MAX_BYTES) {
        await reader.cancel();
        throw new Error('metadata larger than 5 MiB');
      }
      chunks.push(read.value);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    return parseIdpMetadata(text, { now: this.deps.clock.now(), ...optionalEntityId(this.idp) });
  }

  /** Combines metadata (if any) with the configuration; configured values win, certificates are pinned. */
  private resolve(descriptor: IdpDescriptor | undefined): ResolvedIdp {
    const entityId = descriptor?.entityId ?? this.idp.entityId;
    const entryPoint = this.idp.entryPoint ?? descriptor?.ssoRedirectUrl;
    const certificates =
      this.keys.idpCertificates.length > 0
        ? this.keys.idpCertificates
        : (descriptor?.signingCertificates ?? []);
    if (entityId === undefined) throw new Error(`idps[${this.idp.id}]: no IdP entity ID`);
    if (entryPoint === undefined)
      throw new Error(
        `idps[${this.idp.id}]: the metadata lists no HTTP-Redirect SingleSignOnService; set entryPoint`,
      );
    if (certificates.length === 0) throw new Error(`idps[${this.idp.id}]: no IdP signing certificate`);
    const { signing, decryption } = this.keys;
    const options: SamlConfig = {
      issuer: this.entityId,
      callbackUrl: this.acsUrl,
      entryPoint,
      idpCert: certificates,
      // node-saml 5.1 compares idpIssuer only on logout messages; fedproxy compares the assertion's and
      // the Response's Issuer itself (validate()).
      idpIssuer: entityId,
      audience: this.entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      acceptedClockSkewMs: this.idp.clockSkewSeconds * 1000,
      maxAssertionAgeMs: 0,
      validateInResponseTo: ValidateInResponseTo.never,
      cacheProvider: noCacheProvider,
      identifierFormat: this.idp.nameIdFormat ?? null,
      // node-saml would ask for PasswordProtectedTransport exactly, which IdPs refuse after MFA.
      disableRequestedAuthnContext: true,
      authnRequestBinding: 'HTTP-Redirect',
      ...(signing === undefined ? {} : { privateKey: signing.key, publicCert: signing.certificate }),
      ...(decryption === undefined ? {} : { decryptionPvk: decryption.key }),
    };
    return {
      entityId,
      entryPoint,
      options,
      validators: {
        signedResponse: new SAML({ ...options, wantAuthnResponseSigned: true }),
        unsignedResponse: new SAML(options),
      },
    };
  }
}

function isMetadataUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

function optionalEntityId(idp: SamlIdpConfig): { entityId?: string } {
  return idp.entityId === undefined ? {} : { entityId: idp.entityId };
}

/**
 * node-saml reports failures as plain Errors; their message says which check failed. Mapped to a
 * SamlCheck by wording (node-saml is pinned at 5.1.0); the message goes into `reason` (it holds at most
 * names, IDs and audiences, never the document), and the Error itself is not kept as a cause.
 */
function refusalFromNodeSaml(error: unknown): Error {
  if (error instanceof AppError) return error;
  if (error instanceof SamlStatusError)
    return new SamlResponseError('status', 'node-saml: non-success status');
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
  const reason = `node-saml: ${message.slice(0, 200)}`;
  if (/not yet valid/i.test(message)) return new SamlResponseError('not-yet-valid', reason);
  if (/expired/i.test(message)) return new SamlResponseError('expired', reason);
  if (/audience/i.test(message)) return new SamlResponseError('audience', reason);
  if (/decrypt|encrypt/i.test(message)) return new SamlResponseError('decryption', reason);
  if (/signature|signed|reference|transform/i.test(message))
    return new SamlResponseError('signature', reason);
  return new SamlResponseError('assertion', reason);
}

/** One service provider per configured SAML IdP, by IdP id. Reads key, certificate and metadata files. */
export async function createSamlServiceProviders(
  idps: readonly IdpConfig[],
  deps: SamlServiceProviderDeps,
): Promise<Map<string, SamlServiceProvider>> {
  const providers = new Map<string, SamlServiceProvider>();
  for (const idp of idps)
    if (idp.type === 'saml') providers.set(idp.id, await SamlServiceProvider.create(idp, deps));
  return providers;
}
