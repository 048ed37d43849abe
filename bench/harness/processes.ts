/**
 * The bench's yardstick process: the Express baseline, run like fedproxy in a process of its own (see
 * test/support/fedproxy-process.ts) so the load generator (this process) shares neither's event loop.
 */
import { spawn } from 'node:child_process';
import {
  stopProcess,
  TSX,
  waitUntilAnswering,
  type RunningProcess,
} from '../../test/support/fedproxy-process.js';
import { freePort } from '../../test/support/net.js';

export async function startBaseline(): Promise<RunningProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...TSX, 'bench/baseline-server.ts'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, child, 'baseline');
  return { name: 'baseline', url, stop: () => stopProcess(child) };
}
