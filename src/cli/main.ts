#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { writeNewKeySet } from '../credentials/keys.js';
import { closeOnSignals, startServer } from '../main.js';
import { devBanner } from './banner.js';

const USAGE = `fedproxy — identity-federation proxy

Usage:
  fedproxy serve [--config FILE] [--dev]   start the server (FEDPROXY_CONFIG names the file too)
  fedproxy keys generate --dir DIR         write a new key set (Ed25519 signer + HMAC derivation key) into DIR
  fedproxy help                            this text

serve --dev uses config/dev.yaml unless --config is given: memory store (unless REDIS_URL is set),
ephemeral keys, and loud warnings. Production mode refuses dev-only settings.`;

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, dev: { type: 'boolean', default: false } },
    strict: true,
  });
  const config = await loadConfig({
    ...(values.config === undefined ? {} : { file: values.config }),
    dev: values.dev,
    env: process.env,
  });
  const running = await startServer(config);
  closeOnSignals(running);
  const { logger } = running.services;
  if (config.mode === 'development') {
    process.stdout.write(devBanner(config, running.url, running.services.devIdp));
    logger.warn('DEVELOPMENT MODE: dev-only settings are allowed; never expose this instance');
  }
  logger.info(
    { url: running.url, store: running.services.store.kind, kid: running.services.keys.current.kid },
    'fedproxy listening',
  );
}

async function keys(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'generate') throw new UsageError('keys: expected `keys generate --dir DIR`');
  const { values } = parseArgs({ args: rest, options: { dir: { type: 'string' } }, strict: true });
  if (values.dir === undefined) throw new UsageError('keys generate: --dir DIR is required');
  const { kid, path } = await writeNewKeySet(values.dir);
  process.stdout.write(
    `wrote key set ${kid} to ${path} (mode 0600)\n` +
      'New credentials use the newest key set; keep older files until the longest credential lifetime has passed.\n',
  );
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'keys':
      return keys(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`fedproxy: ${message}\n`);
  if (error instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
