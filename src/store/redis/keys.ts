import { indexName, type KeptSessionIndex } from '../session-record.js';

/**
 * Every key and channel the Redis store uses, all under the configured prefix (default `fp:`):
 *
 * | key                            | type    | lifetime                                                |
 * |--------------------------------|---------|---------------------------------------------------------|
 * | `sess1:<sid>`                  | string  | the record (session-record.ts); until its expiresAt     |
 * | `idx:all`, `idx:principal:<p>` | zset    | sids scored by issuedAt; until the longest member's end |
 * | `{nb}:<scope>`                 | string  | not-before mark; one hash tag, so MGET reads many       |
 * | `once:<namespace>:<key>`       | string  | the caller's TTL                                        |
 * | `login:<id>`                   | string  | login session; the caller's TTL, renewed on every put   |
 * | `rate:<key>`                   | string  | hit count; the window, set by the first hit             |
 * | `cfg:<name>`                   | hash    | value + version; kept                                   |
 * | `{audit}:log`, `{audit}:head`  | stream, hash | the chain and its head; one hash tag for the CAS   |
 * | channel `ch:<channel>`         | pub/sub | (channels are server-wide, so they carry the prefix too) |
 *
 * Older versions kept session records as hashes under `sess:<sid>`, and indexes per role, group and idp.
 * A new record layout takes a new key name, so a record of an older layout is not found (its credentials
 * stop verifying) instead of failing with WRONGTYPE; it and the older indexes, no longer written, expire
 * on their own. Members of `idx:all` and `idx:principal:` whose record is not found are dropped by the
 * listing that meets them.
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
    return `${this.prefix}sess1:${sid}`;
  }

  index(index: KeptSessionIndex): string {
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
