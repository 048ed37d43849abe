import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** Parses client input; the first problem becomes a 400 ValidationError naming its path. */
export function parseRequest<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new ValidationError(`${path === '' ? what : `${what}.${path}`}: ${issue?.message ?? 'invalid'}`);
}
