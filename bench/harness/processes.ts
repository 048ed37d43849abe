/**
 * The processes under test: fedproxy instances started the way an operator starts them
 * (`fedproxy serve --config FILE`, production mode, Redis store, keys from FEDPROXY_KEYS), and the
 * Express baseline. Each runs in its own process so the load generator (this process) does not share
 * its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../test/support/net.js';

export interface BenchProcess {
  readonly name: string;
  readonly url: string;
  /** SIGTERM, then wait for the exit (a CPU profile is written on a clean exit). */
  stop(): Promise<void>;
}

export interface FedproxyOptions {
  name: string;
  /** The configuration file's content; `server.listen` and `server.publicUrl` are filled in. */
  config: Record<string, unknown>;
  /** Key set JSON for FEDPROXY_KEYS (every instance of one deployment shares it). */
  keys: string;
  workDir: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: readonly string[];
}

const tsx = ['--import', 'tsx'];

export async function startFedproxy(options: FedproxyOptions): Promise<BenchProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const file = join(options.workDir, `${options.name}.yaml`);
  const config = options.config as { server?: Record<string, unknown> };
  await writeFile(
    file,
    stringify({
      ...config,
      server: { ...config.server, listen: `127.0.0.1:${port}`, publicUrl: url },
    }),
  );
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), ...tsx, 'src/cli/main.ts', 'serve', '--config', file],
    // Logs go where a production deployment sends them: out of the process (here, nowhere). The cost of
    // writing them is still paid.
    { env: { ...process.env, FEDPROXY_KEYS: options.keys }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitUntilAnswering(`${url}/readyz`, child, options.name);
  return { name: options.name, url, stop: () => stop(child) };
}

export async function startBaseline(): Promise<BenchProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...tsx, 'bench/baseline-server.ts'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child, 'baseline');
  return { name: 'baseline', url, stop: () => stop(child) };
}

async function waitUntilAnswering(url: string, child: ChildProcess, name: string): Promise<void> {
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

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}
