import { pino, stdSerializers, type Logger } from 'pino';
import type { Config } from './config/schema.js';

export type { Logger } from 'pino';

/**
 * Secrets never reach a log line. Two nets, both applied to every logged object at any depth:
 * - by field name: anything called like a secret, token, password, cookie, authorization header,
 *   SAML message or web identity token is replaced;
 * - by shape: a string that looks like a JWT/JWS (three base64url parts, `eyJ…`) is replaced wherever it
 *   appears, so a token logged under an innocent name is caught too.
 * Requests are logged by method and path only: no headers, no query string (which can carry
 * presigned-URL signatures, OIDC codes and state).
 */
const SENSITIVE_KEY =
  /^(authorization|cookie|set_cookie|x_amz_security_token|password|passwd|secret|client_?secret|secret_?access_?key|session_?token|token|access_?token|id_?token|refresh_?token|web_?identity_?token|saml_?response|saml_?assertion|assertion|code_?verifier|private_?key|signing_?key|derivation_?key|credentials?)$/i;
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}/g;
export const REDACTED = '[redacted]';

export function redactSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(JWT_LIKE, REDACTED);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  if (value instanceof Error) return redactSecrets(stdSerializers.err(value), depth + 1);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = redactField(key, item, depth + 1);
  return out;
}

function redactField(key: string, value: unknown, depth: number): unknown {
  return SENSITIVE_KEY.test(key.replaceAll('-', '_')) ? REDACTED : redactSecrets(value, depth);
}

interface LoggedRequest {
  id?: unknown;
  method?: string;
  url?: string;
  originalUrl?: string;
}

/** Serializers for both the base logger and pino-http's per-request loggers. */
export const logSerializers = {
  err: (error: Error) => redactSecrets(stdSerializers.err(error)),
  req: (req: LoggedRequest) => ({
    id: req.id,
    method: req.method,
    path: (req.originalUrl ?? req.url ?? '').split('?')[0],
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
};

/**
 * Redaction of one log call's object. pino applies serializers after this formatter, so the fields that
 * have a serializer are left to it: each builds a fixed, safe shape (`req` keeps method and path, `res`
 * the status, `err` is redacted itself). Walking the raw request and response objects instead would cost
 * more than everything else a request does, and add nothing.
 */
function redactLogObject(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(object)) {
    out[key] = Object.hasOwn(logSerializers, key) ? item : redactField(key, item, 1);
  }
  return out;
}

export function createLogger(config: Config['log'], destination?: NodeJS.WritableStream): Logger {
  const options = {
    level: config.level,
    formatters: { log: redactLogObject },
    serializers: logSerializers,
    ...(config.pretty && destination === undefined
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }
      : {}),
  };
  if (destination !== undefined) return pino(options, destination as never);
  if (config.pretty) return pino(options);
  // Asynchronous standard output: lines logged while a write is in flight go out together in the next
  // write, instead of one blocking write per line on the request path. pino flushes what is buffered
  // when the process exits (and closeOnSignals flushes before it exits).
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
