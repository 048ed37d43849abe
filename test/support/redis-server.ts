/**
 * Vitest global setup: find a Redis for the suite. Uses REDIS_URL (default redis://127.0.0.1:6379) when it
 * answers; otherwise starts a throwaway `redis-server` on a free port (no persistence) and stops it after the
 * run; otherwise stops the run with a message that says how to get one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { freePort } from './net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** Whether a Redis answers PING at `url` (no retries). */
export async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Starts `redis-server` on 127.0.0.1 without persistence; resolves once it answers. */
export async function startThrowawayRedis(
  port?: number,
): Promise<{ url: string; process: ChildProcess; port: number }> {
  const chosen = port ?? (await freePort());
  const child = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const url = `redis://127.0.0.1:${chosen}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    const ready = await Promise.race([answers(url), spawnError]);
    if (ready) return { url, process: child, port: chosen };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`redis-server on port ${chosen} did not answer`);
}

export default async function setup(project: TestProject): Promise<() => void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await answers(url)) {
    project.provide('redisUrl', url);
    return () => {};
  }
  let started: Awaited<ReturnType<typeof startThrowawayRedis>>;
  try {
    started = await startThrowawayRedis();
  } catch (error) {
    throw new Error(
      `No Redis answers at ${url} and no redis-server could be started (${String(error)}).\n` +
        'Start one (e.g. `apt-get install redis-server && redis-server --daemonize yes --save ""`) or set REDIS_URL.',
      { cause: error },
    );
  }
  console.log(`[test] no Redis at ${url}; started a throwaway redis-server at ${started.url}`);
  project.provide('redisUrl', started.url);
  return () => {
    started.process.kill();
  };
}
