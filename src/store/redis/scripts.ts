import type { RedisOptions } from 'ioredis';

/**
 * The Lua scripts behind the operations that must be atomic on the server. Each script touches only the
 * keys it is given, and a script given several keys gets keys of one hash tag, so all run on Cluster.
 * Values pass through as strings (Lua would print large numbers in exponent form).
 */
export const luaScripts = {
  /**
   * KEYS: index sorted set. ARGV: issuedAt, sid, ttlMs, horizon. The index lives as long as its longest
   * member. Members issued before `horizon` are removed: their sessions have ended whatever their TTL
   * (see INDEX_HORIZON_MS), and a busy index (`all`) that is never listed would otherwise keep them all.
   * A script rather than ZADD, PEXPIRE NX, PEXPIRE GT sent as commands: each command reads the clock anew,
   * so a set whose lifetime ends between the ZADD and the PEXPIRE expires with the member just added (the
   * session would be missing from its listings); a script runs on one clock reading. One EVALSHA also costs
   * the client less than three commands.
   */
  fpIndexAdd: {
    numberOfKeys: 1,
    lua: `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
if redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX') == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3], 'GT')
end
return 1`,
  },
  /**
   * KEYS: session record. ARGV: at. 0 when there is no such session. Appends a newline and `at` unless the
   * record has a newline already (see session-record.ts), so the first revocation time stands. SET KEEPTTL
   * rather than APPEND: APPEND leaves the string room to grow, up to its own length again.
   */
  fpRevoke: {
    numberOfKeys: 1,
    lua: `
local record = redis.call('GET', KEYS[1])
if not record then return 0 end
if not string.find(record, '\\n', 1, true) then
  redis.call('SET', KEYS[1], record .. '\\n' .. ARGV[1], 'KEEPTTL')
end
return 1`,
  },
  /** KEYS: mark. ARGV: at, ttlMs. Neither the mark nor its remaining lifetime ever shrinks. */
  fpRaise: {
    numberOfKeys: 1,
    lua: `
local mark = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(mark) then mark = current end
local ttl = tonumber(ARGV[2])
local remaining = redis.call('PTTL', KEYS[1])
if remaining > ttl then ttl = remaining end
redis.call('SET', KEYS[1], mark, 'PX', string.format('%d', ttl))
return 1`,
  },
  /**
   * KEYS: counter. ARGV: windowMs. {count, remaining ms}: the first hit of a window sets its lifetime, later
   * hits keep it.
   */
  fpRateIncrement: {
    numberOfKeys: 1,
    lua: `
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return {count, redis.call('PTTL', KEYS[1])}`,
  },
  /** KEYS: counter. Never below zero, and never creates a counter (DECR keeps the TTL). */
  fpRateDecrement: {
    numberOfKeys: 1,
    lua: `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 1`,
  },
  /** KEYS: config hash. ARGV: value, expectedVersion. The new version, or nil when the version moved. */
  fpConfigPut: {
    numberOfKeys: 1,
    lua: `
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then return false end
version = version + 1
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'version', version)
return version`,
  },
  /**
   * KEYS: audit stream, head hash (one hash tag). ARGV: prevHash, maxLength, then entry, hash pairs (one
   * or more), a chain segment sealed on prevHash. Appends the whole segment only when the head is still
   * prevHash, and moves the head to its last entry: {1, {id, ...}} in the order given. Otherwise it appends
   * nothing and answers {0, current head}, so the caller seals the segment again on the new head and the
   * chain never forks. Malformed arguments are refused before any write (a script is not rolled back).
   */
  fpAuditAppend: {
    numberOfKeys: 2,
    lua: `
if #ARGV < 4 or #ARGV % 2 ~= 0 then return redis.error_reply('ERR fpAuditAppend needs entry, hash pairs') end
local head = redis.call('HGET', KEYS[2], 'hash') or ''
if head ~= ARGV[1] then return {0, head} end
local ids = {}
for i = 3, #ARGV - 1, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'entry', ARGV[i], 'hash', ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'hash', ARGV[#ARGV], 'id', ids[#ids])
return {1, ids}`,
  },
} satisfies NonNullable<RedisOptions['scripts']>;

/** The methods ioredis adds for `luaScripts`: keys first, then arguments. */
export interface ScriptCommands {
  fpIndexAdd(index: string, issuedAt: number, sid: string, ttlMs: number, horizon: number): Promise<unknown>;
  fpRevoke(session: string, at: number): Promise<unknown>;
  fpRaise(mark: string, at: number, ttlMs: number): Promise<unknown>;
  fpRateIncrement(counter: string, windowMs: number): Promise<unknown>;
  fpRateDecrement(counter: string): Promise<unknown>;
  fpConfigPut(config: string, value: string, expectedVersion: number): Promise<unknown>;
  /** `segment`: entry, hash, entry, hash, ... sealed in order on prevHash. */
  fpAuditAppend(
    stream: string,
    head: string,
    prevHash: string,
    maxLength: number,
    ...segment: string[]
  ): Promise<unknown>;
}
