import { z } from 'zod';

/**
 * The IAM JSON policy grammar that fedproxy accepts for role policies, session policies and
 * service-account policies (identity-based policies: no `Principal`). Unknown fields are rejected so a
 * typo such as `Resources` can never silently turn into "no restriction".
 */

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** `{ "StringEquals": { "aws:SourceIp": ["10.0.0.0/8"] } }`: operator -> key -> value(s). */
const conditionBlock = z.record(
  z.string().regex(/^(ForAnyValue:|ForAllValues:)?[A-Za-z]+$/, 'not a condition operator'),
  z.record(
    z.string().min(1),
    z.union([
      z.string(),
      z.number(),
      z.boolean(),
      z.array(z.union([z.string(), z.number(), z.boolean()])).min(1),
    ]),
  ),
);

export const statementSchema = z
  .strictObject({
    Sid: z
      .string()
      .regex(/^[A-Za-z0-9]*$/, 'Sid may hold only letters and digits')
      .optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: stringOrList.optional(),
    NotAction: stringOrList.optional(),
    Resource: stringOrList.optional(),
    NotResource: stringOrList.optional(),
    Condition: conditionBlock.optional(),
  })
  .refine((s) => (s.Action === undefined) !== (s.NotAction === undefined), {
    message: 'a statement needs exactly one of Action or NotAction',
  })
  .refine((s) => (s.Resource === undefined) !== (s.NotResource === undefined), {
    message: 'a statement needs exactly one of Resource or NotResource',
  });

export const policyDocumentSchema = z.strictObject({
  Version: z.enum(['2012-10-17', '2008-10-17']).default('2012-10-17'),
  Id: z.string().optional(),
  Statement: z.union([statementSchema, z.array(statementSchema).min(1)]),
});

export type PolicyStatement = z.infer<typeof statementSchema>;
export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
