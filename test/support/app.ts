import { Writable } from 'node:stream';
import type { LoadedConfig } from '../../src/config/load.js';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';

/**
 * A validated development config for tests: memory store, ephemeral keys, random port, quiet logs.
 * publicUrl and issuer are fixed test values (the loader derives them from the listen address).
 */
export function testConfig(overrides: ConfigInput = {}): LoadedConfig {
  const config = configSchema.parse({
    mode: 'development',
    server: { listen: '127.0.0.1:0' },
    store: { type: 'memory' },
    keys: { ephemeral: true },
    log: { level: 'silent' },
    ...overrides,
  });
  const publicUrl = config.server.publicUrl ?? 'http://127.0.0.1';
  return {
    ...config,
    server: { ...config.server, publicUrl },
    credentials: { ...config.credentials, issuer: config.credentials.issuer ?? publicUrl },
  };
}

/** A logger that writes JSON lines into an array, to assert on what was (not) logged. */
export function capturingLogger(level: Config['log']['level'] = 'debug') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger({ level, pretty: false }, destination), lines };
}
