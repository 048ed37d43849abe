import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import { AppError, ValidationError } from '../errors.js';

/** Parses client input; the first problem becomes a 400 ValidationError naming its path. */
export function parseRequest<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new ValidationError(`${path === '' ? what : `${what}.${path}`}: ${issue?.message ?? 'invalid'}`);
}

/** A JSON API body must say it is JSON (415 otherwise): a form post cannot pass for an API call. */
export function requireJson(req: Request): void {
  if (!req.is('application/json')) throw new AppError(415, 'UnsupportedMediaType', 'Send application/json');
}

/** Answers that carry credentials or per-user data are never stored by caches. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};
