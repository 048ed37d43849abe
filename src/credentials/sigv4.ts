import { Hash } from '@smithy/hash-node';
import {
  ALGORITHM_IDENTIFIER,
  createScope,
  getCanonicalHeaders,
  KEY_TYPE_IDENTIFIER,
  MAX_PRESIGNED_TTL,
  SignatureV4,
  UNSIGNED_PAYLOAD,
} from '@smithy/signature-v4';
import { secretsEqual } from '../auth/secret-compare.js';
import type { Clock } from '../clock.js';
import { AppError, InvalidCredentialError } from '../errors.js';
import type { SessionVerifier, VerifiedSession } from './verify.js';

/**
 * Verification of SigV4-signed requests made with credentials fedproxy vended, in both of AWS's forms:
 * the `Authorization: AWS4-HMAC-SHA256 ...` header and the presigned URL (`X-Amz-*` query parameters).
 *
 * Requests made with vended (temporary) credentials must carry their session token
 * (`x-amz-security-token` header, or `X-Amz-Security-Token` in a presigned URL). The token names the
 * session; the access key id in the credential scope must be that session's; the secret is re-derived
 * from the key ring (never stored) and the signature recomputed with the AWS SDK's own SigV4 code.
 * `verifyLongTermKey` checks requests of service accounts (`AKIA…` keys, no token) the same way.
 *
 * What the caller still owns: that the scope's `service` (and `region`, if it cares) is the one of the
 * route being served, that `host` is a host it answers for, and authorisation of the session.
 */

/** The request as an HTTP server received it; see each field for the form it must be in. */
export interface SignedRequestParts {
  method: string;
  /** Path exactly as received (still percent-encoded), without the query string. */
  path: string;
  /** Query parameters as received (decoded), multi-valued allowed. */
  query: Record<string, string | string[]>;
  /** Header names lower-cased; values as received. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * The payload's SHA-256 (lower-case hex), computed by the caller from the body bytes, or
   * 'UNSIGNED-PAYLOAD' when the client declared an unsigned payload and the caller did not hash the body.
   * An unsigned payload is accepted only with `allowUnsignedPayload`.
   */
  payloadHash: string;
}

export interface SigV4VerifierOptions {
  /** How far `x-amz-date` may be from the clock, either way. Default 5 minutes, as AWS. */
  maxSkewMs?: number;
  /**
   * Accept requests whose signature does not cover the body (`x-amz-content-sha256: UNSIGNED-PAYLOAD`,
   * S3 presigned URLs). Off by default: then every accepted signature covers the body.
   */
  allowUnsignedPayload?: boolean;
}

export interface VerifiedRequest {
  /** The live session the request was signed for. */
  session: VerifiedSession;
  accessKeyId: string;
  /** Region and service of the credential scope, as the client signed them. */
  region: string;
  service: string;
  /** The headers the signature covers (lower-case, sorted); nothing else in the request is authenticated. */
  signedHeaders: string[];
}

/** What the receiver of a request requires of its credential scope. */
export interface ExpectedScope {
  /** The SigV4 signing name the request was sent to (`sts`, or a resource service's). */
  service?: string;
}

export type SignatureErrorCode = 'SignatureDoesNotMatch' | 'IncompleteSignature' | 'AccessDenied';

/**
 * A request whose signature is malformed, stale or wrong. The message is AWS's wording where AWS has
 * one and never contains the expected signature, canonical request or string to sign; the reason for
 * logs goes into `cause`. Session-token failures are InvalidCredentialError (InvalidClientTokenId,
 * ExpiredToken), as in verify.ts.
 */
export class SignatureError extends AppError {
  constructor(code: SignatureErrorCode, message: string, reason?: string) {
    super(403, code, message, reason === undefined ? undefined : { cause: reason });
  }
}

/** The SDK's request shape (`HttpRequest` of @smithy/types), as its canonicalisation functions take it. */
type SigningRequest = Parameters<typeof getCanonicalHeaders>[0];

const DEFAULT_MAX_SKEW_MS = 5 * 60_000;
const MAX_AUTHORIZATION_LENGTH = 4096;
const MAX_SIGNED_HEADERS = 64;

/**
 * Signing names whose canonical path is the path as sent (encoded once). Every other service
 * percent-encodes the path again (and removes `.`/`..`/empty segments) before signing. This is what
 * `uriEscapePath` means in the SDK: the S3 clients set it to false, all others leave it true.
 */
const SINGLE_ENCODED_PATH_SERVICES: ReadonlySet<string> = new Set([
  's3',
  's3-object-lambda',
  's3-outposts',
  's3express',
]);

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const INVALID_TOKEN = 'The security token included in the request is invalid';

const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
const SCOPE_DATE = /^\d{8}$/;
const SCOPE_NAME = /^[a-z0-9-]{1,64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const PAYLOAD_HASH = /^[0-9a-f]{64}$/;
const AMZ_DATE = /^\d{8}T\d{6}Z$/;
/** RFC 9110 IMF-fixdate, the only `Date` form accepted. */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const EXPIRES = /^[1-9]\d{0,5}$/;
const AUTHORIZATION_FIELDS: ReadonlySet<string> = new Set(['Credential', 'SignedHeaders', 'Signature']);

/** What the client claims it signed, from either form, before anything is trusted. */
interface ClaimedSignature {
  presigned: boolean;
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** The session token; absent for long-term (service account) keys. */
  token: string | undefined;
  /** The request time as it appears in the string to sign (ISO 8601 basic), and as an instant. */
  longDate: string;
  signedAt: number;
  /** Presigned URLs only: X-Amz-Expires. */
  expiresInSeconds?: number;
  /** Headers that must be among the signed ones for this request to be accepted. */
  mustSign: string[];
}

export class SigV4Verifier {
  private readonly maxSkewMs: number;
  private readonly allowUnsignedPayload: boolean;

  constructor(
    private readonly sessions: SessionVerifier,
    private readonly clock: Clock,
    options: SigV4VerifierOptions = {},
  ) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    if (!Number.isFinite(this.maxSkewMs) || this.maxSkewMs < 0) {
      throw new RangeError('maxSkewMs must be a non-negative number of milliseconds');
    }
    this.allowUnsignedPayload = options.allowUnsignedPayload ?? false;
  }

  /**
   * Verifies an Authorization-header or presigned-URL request. Checks run in this order: form and time;
   * the session token (its signature, the store, liveness); path, payload hash and the request signature;
   * last the service of the credential scope, when `expect.service` names the one the request was sent
   * to (a request signed for one service must not be replayed to another). Which error a request with
   * several faults gets follows from this order. Rejects with SignatureError or InvalidCredentialError
   * (403), or StoreUnavailableError when the store cannot be asked; resolves only for a request that is
   * signed, current, for this service and made with a live session's key.
   */
  async verify(parts: SignedRequestParts, expect: ExpectedScope = {}): Promise<VerifiedRequest> {
    const claimed = this.readAndCheck(parts);
    if (claimed.token === undefined) throw invalidToken('no session token');
    const session = await this.sessions.verifySessionToken(claimed.token);
    if (session.record.akid !== claimed.accessKeyId) {
      throw invalidToken('the access key id is not the session token’s');
    }
    await this.checkSignature(parts, claimed, this.sessions.secretAccessKeyOf(session.record));
    checkService(claimed, expect);
    return {
      session,
      accessKeyId: claimed.accessKeyId,
      region: claimed.region,
      service: claimed.service,
      signedHeaders: claimed.signedHeaders,
    };
  }

  /**
   * Verifies a request signed with a long-term key (`AKIA…`, a service account) that `keyOf` knows, and
   * answers that key's owner with it. Such a request carries no session token; one that does is refused,
   * as is an unknown key id (InvalidClientTokenId, as AWS answers). `expect` as for `verify`.
   */
  async verifyLongTermKey<Owner extends { secretAccessKey: string }>(
    parts: SignedRequestParts,
    keyOf: (accessKeyId: string) => Owner | undefined,
    expect: ExpectedScope = {},
  ): Promise<Omit<VerifiedRequest, 'session'> & { owner: Owner }> {
    const claimed = this.readAndCheck(parts);
    if (claimed.token !== undefined) throw invalidToken('a session token with a long-term key');
    const owner = keyOf(claimed.accessKeyId);
    if (owner === undefined) throw invalidToken('unknown long-term access key id');
    await this.checkSignature(parts, claimed, owner.secretAccessKey);
    checkService(claimed, expect);
    return {
      owner,
      accessKeyId: claimed.accessKeyId,
      region: claimed.region,
      service: claimed.service,
      signedHeaders: claimed.signedHeaders,
    };
  }

  /** The claimed signature, once its form, required signed headers and time are acceptable. */
  private readAndCheck(parts: SignedRequestParts): ClaimedSignature {
    const claimed = readClaimedSignature(parts);
    for (const name of claimed.mustSign) {
      if (!claimed.signedHeaders.includes(name)) {
        throw new SignatureError('IncompleteSignature', `'${name}' must be a signed header`);
      }
    }
    this.checkTime(claimed);
    return claimed;
  }

  /** Recomputes the signature with `secretAccessKey` and compares in constant time. */
  private async checkSignature(
    parts: SignedRequestParts,
    claimed: ClaimedSignature,
    secretAccessKey: string,
  ): Promise<void> {
    const singleEncodedPath = SINGLE_ENCODED_PATH_SERVICES.has(claimed.service);
    // Other services sign the path with `.`, `..` and empty segments removed: accept only a path that
    // already is in that form, so the path the router sees is the path that was signed.
    if (!parts.path.startsWith('/') || (!singleEncodedPath && !isNormalizedPath(parts.path))) {
      throw new SignatureError(
        'SignatureDoesNotMatch',
        "The request path must be absolute and must not contain empty, '.' or '..' segments",
      );
    }
    const payloadHash = this.payloadHashToSign(parts, claimed, singleEncodedPath);
    const request = signingRequestOf(parts, claimed.signedHeaders);
    const signer = new SignatureRecomputer({
      service: claimed.service,
      region: claimed.region,
      credentials: { accessKeyId: claimed.accessKeyId, secretAccessKey },
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: !singleEncodedPath,
      applyChecksum: false,
    });
    let expected: string;
    try {
      expected = await signer.signatureOf(request, claimed, payloadHash);
    } catch (error) {
      // encodeURIComponent refuses lone surrogates: such a path or query cannot have been signed.
      if (error instanceof URIError) {
        throw new SignatureError('SignatureDoesNotMatch', MISMATCH, error.message);
      }
      throw error;
    }
    if (!secretsEqual(expected, claimed.signature)) {
      throw new SignatureError('SignatureDoesNotMatch', MISMATCH, 'signature mismatch');
    }
  }

  private checkTime(claimed: ClaimedSignature): void {
    const now = this.clock.now();
    if (claimed.date !== claimed.longDate.slice(0, 8)) {
      throw new SignatureError(
        'SignatureDoesNotMatch',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
          `'${claimed.date}' != '${claimed.longDate.slice(0, 8)}', from '${claimed.longDate}'.`,
      );
    }
    const minutes = `${this.maxSkewMs / 60_000} min.`;
    if (claimed.signedAt > now + this.maxSkewMs) {
      throw new SignatureError(
        'SignatureDoesNotMatch',
        `Signature not yet current: ${claimed.longDate} is still later than ` +
          `${formatAmzDate(now + this.maxSkewMs)} (${formatAmzDate(now)} + ${minutes})`,
      );
    }
    if (claimed.expiresInSeconds !== undefined) {
      // A presigned URL is good from its X-Amz-Date until X-Amz-Expires later, however old that is.
      if (now > claimed.signedAt + claimed.expiresInSeconds * 1000) {
        throw new SignatureError('AccessDenied', 'Request has expired');
      }
    } else if (claimed.signedAt < now - this.maxSkewMs) {
      throw new SignatureError(
        'SignatureDoesNotMatch',
        `Signature expired: ${claimed.longDate} is now earlier than ` +
          `${formatAmzDate(now - this.maxSkewMs)} (${formatAmzDate(now)} - ${minutes})`,
      );
    }
  }

  /**
   * The payload hash that goes into the canonical request. The SDK signer takes whatever
   * `x-amz-content-sha256` says, so a declared hash is checked against the body here. Undeclared, the
   * caller's hash is used, except for S3 presigned URLs, which AWS always signs as UNSIGNED-PAYLOAD.
   */
  private payloadHashToSign(
    parts: SignedRequestParts,
    claimed: ClaimedSignature,
    singleEncodedPath: boolean,
  ): string {
    if (parts.payloadHash !== UNSIGNED_PAYLOAD && !PAYLOAD_HASH.test(parts.payloadHash)) {
      throw new TypeError("payloadHash must be a lower-case hex SHA-256 or 'UNSIGNED-PAYLOAD'");
    }
    const inHeader = singleHeader(parts.headers, 'x-amz-content-sha256');
    const inQuery = claimed.presigned ? queryParam(parts.query, 'X-Amz-Content-Sha256') : undefined;
    if (inHeader !== undefined && inQuery !== undefined) {
      throw new SignatureError('IncompleteSignature', 'x-amz-content-sha256 must be sent only once');
    }
    const declared = inHeader ?? inQuery;
    if (declared !== undefined && declared !== UNSIGNED_PAYLOAD && declared !== parts.payloadHash) {
      throw new SignatureError(
        'SignatureDoesNotMatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    const hash = declared ?? (claimed.presigned && singleEncodedPath ? UNSIGNED_PAYLOAD : parts.payloadHash);
    if (hash === UNSIGNED_PAYLOAD && !this.allowUnsignedPayload) {
      throw new SignatureError('AccessDenied', 'Unsigned payloads are not accepted for this request');
    }
    return hash;
  }
}

/**
 * SignatureV4 with its canonical-request step reachable. The verifier does not call `sign(request)`:
 * that prepares a request the way a client does before signing (drops a `date` header, stamps a fresh
 * `x-amz-date`, adds the token header, hashes the body), whereas a verifier must canonicalise exactly
 * what was received and signed. Everything that defines SigV4 (path and query canonicalisation, header
 * value normalisation, string to sign, signing-key derivation) is still the SDK's code.
 */
class SignatureRecomputer extends SignatureV4 {
  /** `request` holds only the signed headers; every one of them goes into the canonical request. */
  async signatureOf(
    request: SigningRequest,
    claimed: Pick<
      ClaimedSignature,
      'signedHeaders' | 'longDate' | 'signedAt' | 'date' | 'region' | 'service'
    >,
    payloadHash: string,
  ): Promise<string> {
    // `signableHeaders` = all of them, or the SDK would drop user-agent, proxy-*, ... even when signed.
    const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(claimed.signedHeaders));
    const canonicalRequest = this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    const stringToSign = await this.createStringToSign(
      claimed.longDate,
      createScope(claimed.date, claimed.region, claimed.service),
      canonicalRequest,
      ALGORITHM_IDENTIFIER,
    );
    return this.sign(stringToSign, {
      signingDate: new Date(claimed.signedAt),
      signingRegion: claimed.region,
      signingService: claimed.service,
    });
  }
}

/** Reads the signature from the header or the query; both at once, or neither, is refused. */
function readClaimedSignature(parts: SignedRequestParts): ClaimedSignature {
  const authorization = singleHeader(parts.headers, 'authorization');
  const presigned = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature'].some(
    (name) => queryParam(parts.query, name) !== undefined,
  );
  if (
    authorization !== undefined &&
    (presigned || queryParam(parts.query, 'X-Amz-Security-Token') !== undefined)
  ) {
    throw new SignatureError(
      'IncompleteSignature',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified',
    );
  }
  if (authorization !== undefined) return readAuthorizationHeader(authorization, parts.headers);
  if (presigned) return readPresignedQuery(parts.query, parts.headers);
  throw new SignatureError('IncompleteSignature', 'Request is missing Authentication Token');
}

function readAuthorizationHeader(
  authorization: string,
  headers: SignedRequestParts['headers'],
): ClaimedSignature {
  const prefix = `${ALGORITHM_IDENTIFIER} `;
  if (authorization.length > MAX_AUTHORIZATION_LENGTH || !authorization.startsWith(prefix)) {
    throw new SignatureError('IncompleteSignature', `Authorization header must use ${ALGORITHM_IDENTIFIER}`);
  }
  const fields = new Map<string, string>();
  for (const item of authorization.slice(prefix.length).split(',')) {
    const field = item.trim();
    const name = field.slice(0, Math.max(field.indexOf('='), 0));
    const value = field.slice(name.length + 1);
    if (!AUTHORIZATION_FIELDS.has(name) || !/^[^\s,=]+$/.test(value) || fields.has(name)) {
      throw new SignatureError(
        'IncompleteSignature',
        "Authorization header must be 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'",
      );
    }
    fields.set(name, value);
  }
  const field = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) {
      throw new SignatureError('IncompleteSignature', `Authorization header requires '${name}' parameter.`);
    }
    return value;
  };
  const credential = field('Credential');
  const signedHeaders = field('SignedHeaders');
  const signature = field('Signature');

  const token = singleHeader(headers, 'x-amz-security-token');
  // x-amz-date wins over Date (as at AWS); whichever gives the time must be signed, or it could be moved.
  const amzDate = singleHeader(headers, 'x-amz-date');
  const httpDate = singleHeader(headers, 'date');
  let time: { longDate: string; signedAt: number };
  if (amzDate !== undefined) {
    time = { longDate: amzDate, signedAt: parseAmzDate(amzDate) };
  } else if (httpDate !== undefined) {
    const signedAt = parseHttpDate(httpDate);
    time = { longDate: formatAmzDate(signedAt), signedAt };
  } else {
    throw new SignatureError(
      'IncompleteSignature',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  return {
    presigned: false,
    ...parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signature: parseSignature(signature),
    token,
    ...time,
    // As at AWS, and because an unsigned header can be replaced in transit without breaking the signature:
    // the time (replay window) and the token (which session) must be covered.
    mustSign: [
      'host',
      amzDate !== undefined ? 'x-amz-date' : 'date',
      ...(token === undefined ? [] : ['x-amz-security-token']),
      ...contentHashHeader(headers),
    ],
  };
}

function readPresignedQuery(
  query: SignedRequestParts['query'],
  headers: SignedRequestParts['headers'],
): ClaimedSignature {
  const param = (name: string): string => {
    const value = queryParam(query, name);
    if (value === undefined) {
      throw new SignatureError(
        'IncompleteSignature',
        `Query-string authentication requires the ${name} parameter`,
      );
    }
    return value;
  };
  if (param('X-Amz-Algorithm') !== ALGORITHM_IDENTIFIER) {
    throw new SignatureError('IncompleteSignature', `X-Amz-Algorithm only supports ${ALGORITHM_IDENTIFIER}`);
  }
  const credential = param('X-Amz-Credential');
  const longDate = param('X-Amz-Date');
  const expires = param('X-Amz-Expires');
  const signedHeaders = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');
  if (!EXPIRES.test(expires) || Number(expires) > MAX_PRESIGNED_TTL) {
    throw new SignatureError(
      'IncompleteSignature',
      `X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_TTL}`,
    );
  }
  const token = queryParam(query, 'X-Amz-Security-Token');
  if (singleHeader(headers, 'x-amz-security-token') !== undefined) {
    // Two tokens: the one a downstream reader picks might not be the one verified here.
    throw new SignatureError('IncompleteSignature', 'The security token must be sent only once');
  }
  return {
    presigned: true,
    ...parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signature: parseSignature(signature),
    token,
    longDate,
    signedAt: parseAmzDate(longDate),
    expiresInSeconds: Number(expires),
    // The token and the date are query parameters, which the signature always covers.
    mustSign: ['host', ...contentHashHeader(headers)],
  };
}

/** A present x-amz-content-sha256 header must be signed: it decides which payload hash was signed. */
function contentHashHeader(headers: SignedRequestParts['headers']): string[] {
  return singleHeader(headers, 'x-amz-content-sha256') === undefined ? [] : ['x-amz-content-sha256'];
}

function parseCredential(
  value: string,
): Pick<ClaimedSignature, 'accessKeyId' | 'date' | 'region' | 'service'> {
  const [accessKeyId, date, region, service, terminator, ...rest] = value.split('/');
  if (
    rest.length > 0 ||
    accessKeyId === undefined ||
    !ACCESS_KEY_ID.test(accessKeyId) ||
    date === undefined ||
    !SCOPE_DATE.test(date) ||
    region === undefined ||
    !SCOPE_NAME.test(region) ||
    service === undefined ||
    !SCOPE_NAME.test(service) ||
    terminator !== KEY_TYPE_IDENTIFIER
  ) {
    throw new SignatureError(
      'IncompleteSignature',
      `Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/${KEY_TYPE_IDENTIFIER}`,
    );
  }
  return { accessKeyId, date, region, service };
}

/** Lower-case header names, `;`-separated, sorted and unique: the form every SigV4 signer produces. */
function parseSignedHeaders(value: string): string[] {
  const names = value.split(';');
  const wellFormed =
    names.length <= MAX_SIGNED_HEADERS &&
    names.every((name) => HEADER_NAME.test(name)) &&
    names.join(';') === [...new Set(names)].sort().join(';') &&
    !names.includes('authorization');
  if (!wellFormed) {
    throw new SignatureError(
      'IncompleteSignature',
      'SignedHeaders must be sorted, distinct, lower-case header names separated by semicolons',
    );
  }
  return names;
}

function parseSignature(value: string): string {
  if (!SIGNATURE.test(value)) {
    throw new SignatureError('IncompleteSignature', 'Signature must be 64 lower-case hexadecimal characters');
  }
  return value;
}

/** `YYYYMMDDTHHMMSSZ`, a real instant (no month 13): the form of x-amz-date and X-Amz-Date. */
function parseAmzDate(value: string): number {
  const iso = value.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
  const at = AMZ_DATE.test(value) ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(at) || formatAmzDate(at) !== value) {
    throw new SignatureError(
      'IncompleteSignature',
      "X-Amz-Date must be in the ISO 8601 basic format 'YYYYMMDD'T'HHMMSS'Z'",
    );
  }
  return at;
}

function parseHttpDate(value: string): number {
  const at = HTTP_DATE.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new SignatureError('IncompleteSignature', 'The Date header must be an HTTP date (IMF-fixdate)');
  }
  return at;
}

function formatAmzDate(at: number): string {
  return new Date(at)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** True for a path the SDK's double-encoding canonicalisation leaves as it is (apart from the encoding). */
function isNormalizedPath(path: string): boolean {
  const segments = path.slice(1).split('/');
  return segments.every(
    (segment, i) => segment !== '.' && segment !== '..' && (segment !== '' || i === segments.length - 1),
  );
}

/**
 * The request as the SDK's canonicalisation takes it: method, path and query as received, and only the
 * signed headers, with their values as received. A signed header that is absent, or a query value that
 * is not a string (an extended query parser's objects), cannot have been signed and fails the request.
 */
function signingRequestOf(parts: SignedRequestParts, signedHeaders: readonly string[]): SigningRequest {
  for (const value of Object.values(parts.query) as unknown[]) {
    const isString =
      typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
    if (!isString) throw new SignatureError('SignatureDoesNotMatch', MISMATCH, 'query value is not a string');
  }
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of signedHeaders) {
    const value = Object.hasOwn(parts.headers, name) ? parts.headers[name] : undefined;
    if (value === undefined) {
      throw new SignatureError('SignatureDoesNotMatch', MISMATCH, `signed header ${name} is absent`);
    }
    // A repeated header is one comma-separated value in the canonical form.
    headers[name] = typeof value === 'string' ? value : value.join(',');
  }
  return {
    method: parts.method,
    protocol: 'https:',
    hostname: '',
    path: parts.path,
    query: parts.query,
    headers,
  };
}

/** A header that must occur once; repeated, it is refused rather than guessed at. */
function singleHeader(headers: SignedRequestParts['headers'], name: string): string | undefined {
  const value = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (value === undefined || typeof value === 'string') return value;
  if (value.length === 1) return value[0];
  throw new SignatureError('IncompleteSignature', `The ${name} header must be sent only once`);
}

/**
 * A query parameter that must occur once, matched without regard to case (the SDK hoists headers into
 * the query under whatever case they had); a repeated or case-doubled parameter is refused.
 */
function queryParam(query: SignedRequestParts['query'], name: string): string | undefined {
  const lower = name.toLowerCase();
  const [key, ...others] = Object.keys(query).filter((candidate) => candidate.toLowerCase() === lower);
  if (key === undefined) return undefined;
  const value = others.length === 0 ? query[key] : undefined;
  if (typeof value !== 'string') {
    throw new SignatureError('IncompleteSignature', `The ${name} query parameter must be given once`);
  }
  return value;
}

function invalidToken(reason: string): InvalidCredentialError {
  const error = new InvalidCredentialError(INVALID_TOKEN);
  error.cause = reason;
  return error;
}

function checkService(claimed: { service: string }, expect: ExpectedScope): void {
  if (expect.service !== undefined && claimed.service !== expect.service) {
    throw new SignatureError(
      'SignatureDoesNotMatch',
      `Credential should be scoped to correct service: '${expect.service}'.`,
    );
  }
}
