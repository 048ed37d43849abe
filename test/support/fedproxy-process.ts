/**
 * fedproxy in a process of its own, started the way an operator starts it (`fedproxy serve --config FILE`,
 * keys from FEDPROXY_KEYS): for the multi-instance tests and the bench.
 *
 *   const a = await startFedproxyProcess({ name: 'a', config, keys, workDir });
 *   await fetch(`${a.url}/readyz`);
 *   await a.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './net.js';

export interface RunningProcess {
  readonly name: string;
  readonly url: string;
  /** SIGTERM, then wait for the exit (a CPU profile is written on a clean exit). */
  stop(): Promise<void>;
}

export interface FedproxyProcessOptions {
  name: string;
  /** The configuration file's content; `server.listen` and `server.publicUrl` are filled in. */
  config: Record<string, unknown>;
  /** Key set JSON for FEDPROXY_KEYS (every instance of one deployment shares it). */
  keys: string;
  /** Where the configuration file is written. */
  workDir: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: readonly string[];
}

/** Node flags that run TypeScript sources directly. */
export const TSX = ['--import', 'tsx'] as const;

/** Starts an instance on a free loopback port; resolves once `/readyz` answers. */
export async function startFedproxyProcess(options: FedproxyProcessOptions): Promise<RunningProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const file = join(options.workDir, `${options.name}.yaml`);
  const config = options.config as { server?: Record<string, unknown> };
  await writeFile(
    file,
    stringify({ ...config, server: { ...config.server, listen: `127.0.0.1:${port}`, publicUrl: url } }),
  );
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), ...TSX, 'src/cli/main.ts', 'serve', '--config', file],
    // Logs go where a deployment sends them: out of the process (here, nowhere); writing them is still paid.
    { env: { ...process.env, FEDPROXY_KEYS: options.keys }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitUntilAnswering(`${url}/readyz`, child, options.name);
  return { name: options.name, url, stop: () => stopProcess(child) };
}

/** Polls `url` until it answers 2xx; fails when the process exits first or after 30 s. */
export async function waitUntilAnswering(url: string, child: ChildProcess, name: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before answering`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not answer ${url} within 30 s`);
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}
