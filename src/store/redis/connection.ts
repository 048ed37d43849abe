import { Redis } from 'ioredis';
import { AppError, StoreUnavailableError } from '../../errors.js';
import { luaScripts, type ScriptCommands } from './scripts.js';

export interface RedisConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  /** Shows in CLIENT LIST. */
  name: string;
  /** Connection-level errors (refused, reset, ...), for logs; commands report their own failures. */
  onError?: ((error: Error) => void) | undefined;
}

/** Reply errors that mean "Redis cannot serve right now" rather than "this command is wrong". */
const unavailableReply = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|MISCONF|OOM)\b/;

/**
 * One ioredis connection with the failure behaviour the store contract asks for: a command never waits
 * for Redis to come back, and a command the caller was told failed is never sent or replayed later.
 *
 * - No offline queue: while the connection is down a command fails at once. The only wait is for the
 *   first connection attempt after start-up (bounded by the command timeout), so a fresh process does not
 *   fail its first requests.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: commands in flight when the
 *   connection drops are failed, not resent after the reconnect (a resent write could land after its
 *   caller already reported the failure and retried).
 * - `commandTimeout` bounds every command; `socketTimeout` drops a connection that stopped answering
 *   (half-open TCP) so the reconnect loop can replace it.
 * - The retry strategy never gives up: the connection comes back by itself when Redis does.
 */
export class RedisConnection {
  readonly client: Redis & ScriptCommands;
  private startup: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: RedisConnectionOptions) {
    const client = new Redis(options.url, {
      connectionName: options.name,
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs,
      socketTimeout: 2 * options.commandTimeoutMs,
      connectTimeout: Math.max(1000, options.commandTimeoutMs),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) =>
        Math.min(50 * 2 ** Math.min(attempt, 6), 2000) + Math.floor(Math.random() * 100),
      scripts: luaScripts,
    });
    client.on('error', (error: Error) => options.onError?.(error));
    // ioredis adds a method per script given in `scripts`; its types cannot know them.
    this.client = client as Redis & ScriptCommands;
    this.startup = new Promise<void>((resolve) => {
      const settled = () => {
        clearTimeout(timer);
        for (const event of ['ready', 'close', 'end']) client.off(event, settled);
        this.startup = undefined;
        resolve();
      };
      const timer = setTimeout(settled, options.commandTimeoutMs);
      timer.unref();
      for (const event of ['ready', 'close', 'end']) client.once(event, settled);
    });
  }

  /** Runs one or more commands; unreachable Redis becomes StoreUnavailableError. */
  async run<T>(commands: (client: Redis & ScriptCommands) => Promise<T>): Promise<T> {
    if (this.startup) await this.startup;
    try {
      return await commands(this.client);
    } catch (error) {
      throw storeError(error);
    }
  }

  /** Quits politely when connected; never waits on a connection that is down. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.client.status === 'ready') {
        try {
          await this.client.quit();
        } catch {
          // Closing anyway.
        }
      }
      this.client.disconnect();
    })();
    return this.closing;
  }
}

export function storeError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  if (error.name === 'ReplyError' && !unavailableReply.test(error.message)) return error;
  return new StoreUnavailableError(undefined, { cause: error });
}
