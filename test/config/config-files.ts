import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';

/**
 * Temp config files for one test file; removed after the file's tests. Each call writes a new file so
 * tests stay independent.
 */
export function configFiles(): { write(yaml: string, name?: string): Promise<string> } {
  let dir: string | undefined;
  let count = 0;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    async write(yaml, name = `config-${++count}.yaml`) {
      dir ??= await mkdtemp(join(tmpdir(), 'fedproxy-config-'));
      const file = join(dir, name);
      await writeFile(file, yaml);
      return file;
    },
  };
}

/** The ConfigError a load rejects with (fails the test when it resolves or throws something else). */
export async function configError(loading: Promise<unknown>): Promise<ConfigError> {
  const error: unknown = await loading.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

/** A production config that passes every production check; tests change one thing at a time. */
export const productionBase = `
server:
  listen: 127.0.0.1:8080
store:
  type: redis
keys:
  dir: /etc/fedproxy/keys
`;
