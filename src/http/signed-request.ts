import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { SignedRequestParts } from '../credentials/sigv4.js';

/** A request whose body parser kept the raw bytes (the STS parser does), for the payload hash. */
export type RequestWithRawBody = Request & { rawBody?: Buffer };

/**
 * The parts of a received request that SigV4 covers, exactly as received: the path still
 * percent-encoded, the query as Express's simple parser decoded it, lower-case header names, and the
 * SHA-256 of the body bytes.
 */
export function signedRequestParts(req: RequestWithRawBody): SignedRequestParts {
  return {
    method: req.method,
    path: req.originalUrl.split('?')[0] ?? '/',
    query: req.query as Record<string, string | string[]>,
    headers: req.headers,
    payloadHash: createHash('sha256')
      .update(req.rawBody ?? Buffer.alloc(0))
      .digest('hex'),
  };
}
