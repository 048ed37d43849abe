import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { serviceAccountSchema } from '../src/config/schema.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: process.cwd() });

describe('fedproxy CLI', () => {
  it('keys generate writes a key set file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedproxy-cli-'));
    const { stdout } = await cli('keys', 'generate', '--dir', dir);
    expect(stdout).toContain('wrote key set');
    expect((await readdir(dir)).filter((f) => f.endsWith('.key.json'))).toHaveLength(1);
  });

  it('service-accounts generate prints a key pair and a configuration entry that validates', async () => {
    const { stdout } = await cli('service-accounts', 'generate', '--name', 'broker');
    const secret = /AWS_SECRET_ACCESS_KEY=(\S+)/.exec(stdout)?.[1];
    const entry = (parse(stdout) as { serviceAccounts: unknown[] }).serviceAccounts[0] as Record<
      string,
      unknown
    >;
    expect(entry.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    const parsed = serviceAccountSchema.safeParse({ ...entry, secretAccessKey: secret });
    expect(parsed.success).toBe(true);
  });

  it('unknown commands exit 2 with the usage', async () => {
    await expect(cli('frobnicate')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Usage:'),
    });
  });
});
