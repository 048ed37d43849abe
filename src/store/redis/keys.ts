import { indexName } from '../session-record.js';
import type { SessionIndex } from '../types.js';

/**
 * Every key and channel the Redis store uses, all under the configured prefix (default `fp:`):
 *
 * | key                          | type    | lifetime                                                |
 * |------------------------------|---------|---------------------------------------------------------|
 * | `sess:<sid>`                 | hash    | until the session's expiresAt                           |
 * | `akid:<akid>`                | string  | sid; until the session's expiresAt                      |
 * | `idx:all`, `idx:<by>:<value>`| zset    | sids scored by issuedAt; until the longest member's end |
 * | `{nb}:<scope>`               | string  | not-before mark; one hash tag, so MGET reads many       |
 * | `once:<namespace>:<key>`     | string  | the caller's TTL                                        |
 * | `login:<id>`                 | string  | login session; the caller's TTL, renewed on every put   |
 * | `rate:<key>`                 | string  | hit count; the window, set by the first hit             |
 * | `cfg:<name>`                 | hash    | value + version; kept                                   |
 * | `{audit}:log`, `{audit}:head`| stream, hash | the chain and its head; one hash tag for the CAS   |
 * | channel `ch:<channel>`       | pub/sub | (channels are server-wide, so they carry the prefix too) |
 *
 * The namespace is URI-encoded so that no namespace/key pair can spell another's key. Login ids and rate
 * keys (which may carry client input) are encoded too, lone surrogates included: sent as they are, those
 * would reach Redis as U+FFFD, so two different keys would share one counter. Encoding also keeps client
 * input from choosing a Cluster hash tag.
 */
export class RedisKeys {
  readonly auditLog: string;
  readonly auditHead: string;

  constructor(private readonly prefix: string) {
    this.auditLog = `${prefix}{audit}:log`;
    this.auditHead = `${prefix}{audit}:head`;
  }

  session(sid: string): string {
    return `${this.prefix}sess:${sid}`;
  }

  accessKey(akid: string): string {
    return `${this.prefix}akid:${akid}`;
  }

  index(index: SessionIndex): string {
    return `${this.prefix}idx:${indexName(index)}`;
  }

  notBefore(scope: string): string {
    return `${this.prefix}{nb}:${scope}`;
  }

  once(namespace: string, key: string): string {
    return `${this.prefix}once:${encodeURIComponent(namespace)}:${key}`;
  }

  loginSession(id: string): string {
    return `${this.prefix}login:${encodeKeyPart(id)}`;
  }

  rateCounter(key: string): string {
    return `${this.prefix}rate:${encodeKeyPart(key)}`;
  }

  config(name: string): string {
    return `${this.prefix}cfg:${name}`;
  }

  channel(channel: string): string {
    return `${this.prefix}ch:${channel}`;
  }
}

const loneSurrogate = /\p{Surrogate}/u;

/** encodeURIComponent, made total and still one-to-one: a lone surrogate becomes `%uXXXX`. */
function encodeKeyPart(part: string): string {
  if (!loneSurrogate.test(part)) return encodeURIComponent(part);
  let encoded = '';
  for (const char of part) {
    encoded += loneSurrogate.test(char)
      ? `%u${char.charCodeAt(0).toString(16).toUpperCase()}`
      : encodeURIComponent(char);
  }
  return encoded;
}
