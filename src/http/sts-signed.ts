import type { Request, RequestHandler, Response } from 'express';
import { federatedIdentity, type ServiceAccounts } from '../auth/service-accounts.js';
import type { Clock } from '../clock.js';
import type { CredentialIssuer } from '../credentials/issuer.js';
import { sessionPrincipal } from '../credentials/mint.js';
import type { SigV4Verifier } from '../credentials/sigv4.js';
import { buildFederationGrant } from '../policy/federation.js';
import { signedRequestParts, type RequestWithRawBody } from './signed-request.js';
import { credentialsXml } from './sts-xml.js';
import {
  durationParam,
  limitByPrincipal,
  packedPolicySize,
  refuseUnsupported,
  requireParam,
  type StsAction,
} from './sts.js';

/** A signed STS request must be scoped to the STS service, as AWS requires. */
const STS_SCOPE = { service: 'sts' };

/** GetCallerIdentity: signed with vended credentials; answers who they act as. */
export function getCallerIdentity(deps: { sigv4: SigV4Verifier; accountId: string }): StsAction {
  return {
    async handle(_params, req) {
      const verified = await deps.sigv4.verify(signedRequestParts(req as RequestWithRawBody), STS_SCOPE);
      const principal = sessionPrincipal(deps.accountId, verified.session.record);
      return { Arn: principal.arn, UserId: principal.userId, Account: deps.accountId };
    },
  };
}

/**
 * GetFederationToken: signed with a service account's long-term key; mints a federated-user session
 * whose permissions are the account's policy intersected with the policy passed.
 */
export function getFederationToken(deps: {
  sigv4: SigV4Verifier;
  serviceAccounts: ServiceAccounts;
  issuer: CredentialIssuer;
  clock: Clock;
  limits: { mintByPrincipal: RequestHandler };
}): StsAction {
  return {
    async handle(params, req: Request, res: Response) {
      const verified = await deps.sigv4.verifyLongTermKey(
        signedRequestParts(req as RequestWithRawBody),
        (accessKeyId) => deps.serviceAccounts.byAccessKey(accessKeyId),
        STS_SCOPE,
      );
      refuseUnsupported(params);
      const account = verified.owner;
      const name = requireParam(params, 'Name');
      const identity = federatedIdentity(account, name, deps.clock.now());
      await limitByPrincipal(deps.limits.mintByPrincipal, identity, req, res);
      const grant = buildFederationGrant(account, {
        name,
        durationSeconds: durationParam(params),
        ...(params.Policy === undefined ? {} : { sessionPolicy: requireParam(params, 'Policy') }),
      });
      const credentials = await deps.issuer.mintGrant(identity, grant);
      return {
        Credentials: credentialsXml(credentials),
        FederatedUser: {
          Arn: credentials.assumedRoleUser.arn,
          FederatedUserId: credentials.assumedRoleUser.assumedRoleId,
        },
        ...packedPolicySize(params),
      };
    },
  };
}
