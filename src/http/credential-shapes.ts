import type { IssuedCredentials } from '../credentials/credentials.js';

/**
 * The AWS wire shapes of issued credentials. Expiration is RFC 3339 in UTC without fractions, as AWS
 * writes it.
 */
export function awsTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `POST /v1/credentials`: the AWS names plus fedproxy's session details. */
export function credentialsJson(credentials: IssuedCredentials) {
  return {
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    SessionToken: credentials.sessionToken,
    Expiration: awsTimestamp(credentials.expiration),
    sessionId: credentials.sessionId,
    roleArn: credentials.roleArn,
    assumedRoleUser: credentials.assumedRoleUser,
  };
}

/** The container-credentials provider's shape: note `Token`, not `SessionToken`. */
export function containerCredentialsJson(credentials: IssuedCredentials, accountId: string) {
  return {
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    Token: credentials.sessionToken,
    Expiration: awsTimestamp(credentials.expiration),
    AccountId: accountId,
  };
}
