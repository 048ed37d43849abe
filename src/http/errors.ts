import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, NotFoundError, PayloadTooLargeError, ValidationError } from '../errors.js';
import type { Logger } from '../log.js';

/** The JSON error body every non-STS route answers: `{ "error": { "code", "message" } }`. */
export interface ErrorBody {
  error: { code: string; message: string; requestId?: string };
}

/** Body-parser and other framework errors carry `type`/`status`; map them into the hierarchy. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const framework = error as { type?: string; status?: number; expose?: boolean; message?: string };
  switch (framework.type) {
    case 'entity.too.large':
      return new PayloadTooLargeError();
    case 'entity.parse.failed':
      return new ValidationError('The request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'UnsupportedMediaType', 'Unsupported content encoding or charset');
    case 'parameters.too.many':
      return new PayloadTooLargeError('Too many parameters');
  }
  if (
    typeof framework.status === 'number' &&
    framework.status >= 400 &&
    framework.status < 500 &&
    framework.expose
  ) {
    return new AppError(framework.status, 'BadRequest', framework.message ?? 'Bad request');
  }
  return new AppError(500, 'InternalError', 'Internal error', { cause: error });
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new NotFoundError('No such route'));
};

/**
 * The one error handler. Client errors (expose) answer their message; server errors answer a generic
 * message and are logged in full. Routes that speak another wire format (STS XML) install their own
 * renderer through `res.locals.renderError`, but status and code still come from the hierarchy.
 */
export function handleErrors(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = toAppError(error);
    const log = (req as { log?: Logger }).log ?? logger;
    if (appError.expose)
      log.info({ err: appError, code: appError.code, cause: appError.cause }, 'request failed');
    else log.error({ err: error }, 'request failed');
    const requestId = String(req.id ?? '');
    const message = appError.expose ? appError.message : 'Internal error';
    const render = res.locals.renderError as ((error: AppError, message: string) => void) | undefined;
    res.status(appError.status);
    if (appError.status === 429 && res.getHeader('Retry-After') === undefined)
      res.setHeader('Retry-After', '1');
    if (render) {
      render(appError, message);
      return;
    }
    const body: ErrorBody = { error: { code: appError.code, message, ...(requestId ? { requestId } : {}) } };
    res.json(body);
  };
}
