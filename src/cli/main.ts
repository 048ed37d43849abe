#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { randomBase32 } from '../credentials/encoding.js';
import { writeNewKeySet } from '../credentials/keys.js';
import { devBanner } from './banner.js';

const USAGE = `fedproxy — identity-federation proxy

Usage:
  fedproxy serve [--config FILE] [--dev]   start the server (FEDPROXY_CONFIG names the file too)
  fedproxy keys generate --dir DIR         write a new key set (Ed25519 signer + HMAC derivation key) into DIR
  fedproxy audit export [--config FILE] [--dev] [--verify] [--after ID]
                                           export the audit trail as JSON lines; --verify checks its hash chain
  fedproxy service-accounts generate --name NAME
                                           print a new long-term key pair for GetFederationToken
  fedproxy help                            this text

serve --dev uses config/dev.yaml unless --config is given: memory store (unless REDIS_URL is set),
ephemeral keys, and loud warnings. Production mode refuses dev-only settings.`;

async function serve(args: string[]): Promise<void> {
  // Loaded here, not at the top: the other commands need none of the server (or its IdP libraries).
  const { loadConfig } = await import('../config/load.js');
  const { closeOnSignals, startServer } = await import('../main.js');
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

async function serviceAccounts(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'generate')
    throw new UsageError('service-accounts: expected `service-accounts generate --name NAME`');
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } }, strict: true });
  if (values.name === undefined || !/^[\w+=,.@-]{1,48}$/.test(values.name)) {
    throw new UsageError(
      'service-accounts generate: --name NAME (1-48 of letters, digits and +=,.@_-) is required',
    );
  }
  const accessKeyId = `AKIA${randomBase32(16)}`;
  const secret = randomBytes(30).toString('base64');
  const variable = `FEDPROXY_SA_${values.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SECRET`;
  process.stdout.write(
    [
      `# Give the client: AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secret}`,
      `# Give fedproxy the secret in its environment: ${variable}=${secret}`,
      '# and add to its configuration:',
      'serviceAccounts:',
      `  - name: ${values.name}`,
      `    accessKeyId: ${accessKeyId}`,
      `    secretAccessKey: \${env:${variable}}`,
      '    policy: # the most its federated users may do; replace with your own',
      '      Version: "2012-10-17"',
      '      Statement: [{ Effect: Allow, Action: ["reports:Get*"], Resource: ["*"] }]',
      '',
    ].join('\n'),
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
    case 'service-accounts':
      return serviceAccounts(rest);
    case 'audit':
      return (await import('./audit.js')).auditCommand(rest);
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
