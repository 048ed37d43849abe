/**
 * The credentials fedproxy hands out, in its own shape; http/ turns them into the AWS wire shapes
 * (STS XML, credential_process JSON, container-credentials JSON).
 */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  sessionId: string;
  roleArn: string;
  assumedRoleUser: { arn: string; assumedRoleId: string };
  /** True when an earlier, still-live session was handed out again (see reuse in mint.ts). */
  reused: boolean;
}
