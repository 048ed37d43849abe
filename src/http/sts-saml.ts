import { createHash } from 'node:crypto';
import type { SamlServiceProvider } from '../auth/saml/service-provider.js';
import { AccessDeniedError, ValidationError } from '../errors.js';
import {
  assumedRoleXml,
  issueFor,
  packedPolicySize,
  refuseUnsupported,
  requireParam,
  type StsAction,
  type StsRouteDeps,
} from './sts.js';

const ROLE_SESSION_NAME = 'https://aws.amazon.com/SAML/Attributes/RoleSessionName';
const SAML_PROVIDER_ARN = /^arn:aws:iam::(\d{12}):saml-provider\/([\w.-]{1,128})$/;

/**
 * AssumeRoleWithSAML: a base64 SAML response posted by a client (saml2aws, the AWS CLI) becomes
 * credentials. `PrincipalArn` (`arn:aws:iam::<account>:saml-provider/<idp id>`) names the configured
 * SAML IdP; the response gets every check of the ACS except InResponseTo, and shares its replay cache.
 */
export function assumeRoleWithSaml(
  deps: Pick<StsRouteDeps, 'issuer' | 'limits' | 'accountId'> & {
    samlProviders: ReadonlyMap<string, SamlServiceProvider>;
  },
): StsAction {
  return {
    async handle(params, req, res) {
      refuseUnsupported(params);
      const [, account, idpId] = SAML_PROVIDER_ARN.exec(requireParam(params, 'PrincipalArn')) ?? [];
      if (account === undefined || idpId === undefined) throw new ValidationError('PrincipalArn is invalid');
      const provider = account === deps.accountId ? deps.samlProviders.get(idpId) : undefined;
      if (provider === undefined) throw new AccessDeniedError('No such SAML provider in this account');
      const result = await provider.validateForAssumeRole(requireParam(params, 'SAMLAssertion'));
      // As at AWS: the session name is the assertion's RoleSessionName attribute, if it sends one.
      const named = result.identity.attributes[ROLE_SESSION_NAME];
      const credentials = await issueFor(
        deps,
        result.identity,
        params,
        req,
        res,
        typeof named === 'string' ? named : undefined,
      );
      return {
        ...assumedRoleXml(credentials),
        Audience: result.audience,
        Issuer: result.issuer,
        Subject: result.subject,
        SubjectType: result.subjectType,
        // As AWS computes it: base64(SHA-1(Issuer + account id + provider name)); an identifier, not a secret.
        NameQualifier: createHash('sha1')
          .update(`${result.issuer}${deps.accountId}${idpId}`)
          .digest('base64'),
        ...packedPolicySize(params),
      };
    },
  };
}
