import { randomUUID } from 'node:crypto';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Identity } from '../auth/identity.js';
import type { WorkloadTokenVerifier } from '../auth/oidc/bearer.js';
import type { IssuedCredentials } from '../credentials/credentials.js';
import type { CredentialIssuer } from '../credentials/issuer.js';
import { AccessDeniedError, AppError, SessionPolicyError, ValidationError } from '../errors.js';
import { credentialsXml, stsErrorResponse, stsResponse, type XmlNode } from './sts-xml.js';

/**
 * The STS Query API (`Version=2011-06-15`), so unchanged AWS SDKs and the AWS CLI can use fedproxy as
 * their STS endpoint: `POST /`, `/sts` and `/sts/` (the SDK appends a slash to an endpoint path).
 * Answers are AWS's XML shapes; errors are AWS's `ErrorResponse` with AWS's wire codes and statuses.
 */

export interface StsAction {
  /** Answers the action's `<Action>Result` content; throws AppErrors, which become ErrorResponse. */
  handle(params: StsParams, req: Request, res: Response): Promise<Record<string, XmlNode | undefined>>;
}

export type StsParams = Record<string, string>;

export interface StsRouteDeps {
  accountId: string;
  issuer: CredentialIssuer;
  workloadTokens: WorkloadTokenVerifier;
  bodyLimitBytes: number;
  limits: { mintByIp: RequestHandler; mintByPrincipal: RequestHandler };
  /** Further actions (GetCallerIdentity, GetFederationToken, AssumeRoleWithSAML) by name. */
  actions: Record<string, StsAction>;
}

/** Our codes and statuses where AWS's differ on the STS wire. */
const STS_WIRE: Record<string, { code?: string; status: number }> = {
  InvalidIdentityToken: { status: 400 },
  ExpiredTokenException: { status: 400 },
  IDPCommunicationError: { status: 400 },
  Throttling: { status: 400 },
  Unauthenticated: { code: 'MissingAuthenticationToken', status: 403 },
  UnsupportedMediaType: { code: 'InvalidParameterValue', status: 400 },
};

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/;
const LIMITS: Record<string, [number, number]> = {
  WebIdentityToken: [4, 20_000],
  SAMLAssertion: [4, 100_000],
  RoleArn: [20, 2048],
  RoleSessionName: [2, 64],
  Policy: [1, 2048],
};

/** AWS-style parameter checks: required and length bounds. */
export function requireParam(params: StsParams, name: string): string {
  const value = params[name];
  if (value === undefined || value === '')
    throw new ValidationError(`1 validation error detected: '${name}' is required`);
  const [min, max] = LIMITS[name] ?? [1, 2048];
  if (value.length < min || value.length > max) {
    throw new ValidationError(
      `1 validation error detected: Value at '${name}' failed to satisfy constraint: Member must have length between ${min} and ${max}`,
    );
  }
  return value;
}

/** The role name of `arn:aws:iam::<account>:role/<name>`; another account is AccessDenied. */
export function roleNameFromArn(roleArn: string, accountId: string): string {
  const [, account, role] = ROLE_ARN.exec(roleArn) ?? [];
  if (account === undefined || role === undefined)
    throw new ValidationError(`${roleArn.slice(0, 100)} is invalid`);
  if (account !== accountId)
    throw new AccessDeniedError('Not authorized to assume a role of another account');
  return role;
}

/** `DurationSeconds` as sent: digits become a number; anything else is passed on and refused by validation. */
export function durationParam(params: StsParams): unknown {
  const raw = params.DurationSeconds;
  if (raw === undefined) return undefined;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : raw;
}

export function refuseUnsupported(params: StsParams): void {
  if (
    Object.keys(params).some(
      (key) =>
        key.startsWith('PolicyArns.') || key.startsWith('Tags.') || key === 'TransitiveTagKeys.member.1',
    )
  ) {
    throw new ValidationError('PolicyArns and session tags are not supported by fedproxy');
  }
}

/** AWS's `PackedPolicySize`: how much of the session-policy allowance (2048 characters) was used, in percent. */
export function packedPolicySize(params: StsParams): { PackedPolicySize?: number } {
  return params.Policy === undefined
    ? {}
    : { PackedPolicySize: Math.ceil((params.Policy.length / 2048) * 100) };
}

export function assumedRoleXml(credentials: IssuedCredentials): Record<string, XmlNode> {
  return {
    AssumedRoleUser: {
      Arn: credentials.assumedRoleUser.arn,
      AssumedRoleId: credentials.assumedRoleUser.assumedRoleId,
    },
    Credentials: credentialsXml(credentials),
  };
}

/** Counts the request against the per-principal rate limit, once the caller is known. */
export function limitByPrincipal(
  limiter: RequestHandler,
  identity: Identity,
  req: Request,
  res: Response,
): Promise<void> {
  res.locals.limitedIdentity = identity;
  return new Promise((resolve, reject) => {
    void limiter(req, res, (error?: unknown) => (error === undefined ? resolve() : reject(error)));
  });
}

/**
 * Mints for an AssumeRole* action: RoleArn, DurationSeconds and Policy from the parameters, and the
 * session name given (RoleSessionName, or for AssumeRoleWithSAML the assertion's attribute; undefined
 * derives it from the username).
 */
export async function issueFor(
  deps: Pick<StsRouteDeps, 'issuer' | 'limits' | 'accountId'>,
  identity: Identity,
  params: StsParams,
  req: Request,
  res: Response,
  sessionName: string | undefined,
): Promise<IssuedCredentials> {
  await limitByPrincipal(deps.limits.mintByPrincipal, identity, req, res);
  const roleName = roleNameFromArn(requireParam(params, 'RoleArn'), deps.accountId);
  const policy = params.Policy === undefined ? undefined : requireParam(params, 'Policy');
  return deps.issuer.issue(identity, roleName, {
    durationSeconds: durationParam(params),
    ...(sessionName === undefined ? {} : { sessionName }),
    ...(policy === undefined ? {} : { sessionPolicy: policy }),
  });
}

export function stsRoutes(deps: StsRouteDeps): Router {
  const router = Router();

  const assumeRoleWithWebIdentity: StsAction = {
    async handle(params, req, res) {
      refuseUnsupported(params);
      const token = requireParam(params, 'WebIdentityToken');
      const { identity, audience } = await deps.workloadTokens.verify(token);
      const credentials = await issueFor(
        deps,
        identity,
        params,
        req,
        res,
        requireParam(params, 'RoleSessionName'),
      );
      return {
        SubjectFromWebIdentityToken: identity.subject,
        Audience: audience,
        ...assumedRoleXml(credentials),
        ...packedPolicySize(params),
        Provider: identity.issuer,
      };
    },
  };
  const actions: Record<string, StsAction> = {
    AssumeRoleWithWebIdentity: assumeRoleWithWebIdentity,
    ...deps.actions,
  };

  // STS's own parser: keeps the raw body for SigV4's payload hash; same size bound as everywhere.
  const parseForm = express.urlencoded({
    extended: false,
    limit: deps.bodyLimitBytes,
    parameterLimit: 200,
    verify: (req, _res, buf) => {
      (req as Request & { rawBody?: Buffer }).rawBody = buf;
    },
  });

  // First, so every failure on these paths (size, throttling, parsing) answers AWS's ErrorResponse.
  const speakStsErrors: RequestHandler = (_req, res, next) => {
    const requestId = randomUUID();
    res.locals.stsRequestId = requestId;
    res.locals.renderError = (error: AppError, message: string) => {
      const wire = STS_WIRE[error.code];
      const status = wire?.status ?? error.status;
      const code = error instanceof SessionPolicyError ? error.stsCode : (wire?.code ?? error.code);
      res
        .status(status)
        .type('text/xml')
        .send(stsErrorResponse(code, message, status, requestId));
    };
    next();
  };

  const handle: RequestHandler = async (req, res) => {
    if (!req.is('application/x-www-form-urlencoded')) {
      throw new AppError(400, 'InvalidParameterValue', 'Send application/x-www-form-urlencoded');
    }
    const params = req.body as Record<string, unknown>;
    // A repeated parameter parses as a list: AWS takes each parameter once.
    const repeated = Object.entries(params).find(([, value]) => typeof value !== 'string');
    if (repeated !== undefined)
      throw new ValidationError(`Parameter ${repeated[0].slice(0, 64)} was given more than once`);
    const actionName = typeof params.Action === 'string' ? params.Action : '';
    const action = Object.hasOwn(actions, actionName) ? actions[actionName] : undefined;
    if (action === undefined)
      throw new AppError(
        400,
        'InvalidAction',
        `Could not find operation ${actionName.slice(0, 64)} for version 2011-06-15`,
      );
    if (params.Version !== '2011-06-15')
      throw new AppError(400, 'InvalidAction', 'Version must be 2011-06-15');
    const result = await action.handle(params as StsParams, req, res);
    res
      .set('Cache-Control', 'no-store')
      .type('text/xml')
      .send(stsResponse(actionName, result, res.locals.stsRequestId as string));
  };

  for (const path of ['/', '/sts', '/sts/'])
    router.post(path, speakStsErrors, deps.limits.mintByIp, parseForm, handle);
  return router;
}
