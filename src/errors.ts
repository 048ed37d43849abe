/**
 * The one error hierarchy. Every failure a client may see is an AppError with an HTTP status, a stable
 * machine-readable code and a message; `expose` says whether the message may be shown to the client
 * (client errors yes, server errors no: they answer a generic message and are logged in full).
 * The HTTP error handler is the only place that turns these into response bodies.
 *
 * Codes follow AWS's wire codes where an AWS client may read them (AccessDenied, ValidationError, ...).
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly expose: boolean;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.expose = status < 500;
  }
}

/** Malformed or out-of-range input (AWS: ValidationError). */
export class ValidationError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(400, 'ValidationError', message, options);
  }
}

/** No usable credentials were presented. */
export class AuthenticationError extends AppError {
  constructor(message = 'Authentication required') {
    super(401, 'Unauthenticated', message);
  }
}

/** The caller is known but not allowed (AWS: AccessDenied). */
export class AccessDeniedError extends AppError {
  constructor(message = 'Access denied') {
    super(403, 'AccessDenied', message);
  }
}

/** A credential or session token that is not (or no longer) valid. */
export class InvalidCredentialError extends AppError {
  constructor(message: string, code = 'InvalidClientTokenId') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super(404, 'NotFound', message);
  }
}

/** An optimistic-concurrency check failed (If-Match did not match the stored version). */
export class PreconditionFailedError extends AppError {
  constructor(message = 'The resource was changed by someone else; read it again and retry') {
    super(412, 'PreconditionFailed', message);
  }
}

/** The change contradicts the current state (e.g. deleting a role that a mapping still names). */
export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'Conflict', message);
  }
}

/** A conditional write arrived without `If-Match` (RFC 6585): read the resource, then send its ETag. */
export class PreconditionRequiredError extends AppError {
  constructor(message = 'Send If-Match with the ETag of the version you read') {
    super(428, 'PreconditionRequired', message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body too large') {
    super(413, 'PayloadTooLarge', message);
  }
}

export class RateLimitedError extends AppError {
  constructor(message = 'Rate exceeded') {
    super(429, 'Throttling', message);
  }
}

/**
 * The store (Redis) could not be asked. Fail closed: nothing is minted or verified without it.
 */
export class StoreUnavailableError extends AppError {
  constructor(
    message = 'The session store is unavailable; try again shortly',
    options?: { cause?: unknown },
  ) {
    super(503, 'ServiceUnavailable', message, options);
  }
}

/**
 * The identity provider (discovery, JWKS, SAML metadata) could not be reached: 503 with AWS's STS code, so
 * a client retries instead of concluding its token or sign-in is bad.
 */
export class IdpUnreachableError extends AppError {
  constructor(message = 'The identity provider could not be reached', options?: { cause?: unknown }) {
    super(503, 'IDPCommunicationError', message, options);
  }
}

/**
 * An IdP token (OIDC ID token or workload bearer token) that is malformed, wrongly signed, from an
 * untrusted issuer, for another audience, or outside its validity. The client message never says which
 * check failed (that goes to the log and audit through `reason`). STS answers these as 400 with the same
 * wire codes (InvalidIdentityToken, ExpiredTokenException).
 */
export class InvalidIdentityTokenError extends AppError {
  readonly reason: string;
  constructor(reason: string, options?: { expired?: boolean; cause?: unknown }) {
    super(
      401,
      options?.expired ? 'ExpiredTokenException' : 'InvalidIdentityToken',
      options?.expired ? 'The identity token has expired' : 'The identity token is not valid',
      options,
    );
    this.reason = reason;
  }
}

/**
 * A session policy that is not valid IAM JSON, or too large. It is a ValidationError (what the JSON API
 * answers); the STS Query API answers AWS's wire code for it instead (`stsCode`).
 */
export class SessionPolicyError extends ValidationError {
  readonly stsCode: 'MalformedPolicyDocument' | 'PackedPolicyTooLarge';
  constructor(
    message: string,
    stsCode: 'MalformedPolicyDocument' | 'PackedPolicyTooLarge',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.stsCode = stsCode;
  }
}
