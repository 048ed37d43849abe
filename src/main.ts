import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { buildServices, createApp, type BuildOptions, type Services } from './app.js';
import { startRevocationListener } from './credentials/revocation.js';
import type { LoadedConfig } from './config/load.js';
import { splitListen } from './config/production.js';

/**
 * Process entry: build the app from a validated configuration, listen over HTTP or HTTPS, and shut
 * down gracefully (stop accepting, drain in-flight requests up to the grace period, close the store).
 */

export interface RunningServer {
  /** Where the server actually listens (port 0 resolved). */
  url: string;
  services: Services;
  server: Server;
  /** Graceful stop; safe to call more than once. */
  close(): Promise<void>;
}

export async function startServer(config: LoadedConfig, options: BuildOptions = {}): Promise<RunningServer> {
  const services = await buildServices(config, options);
  // Every instance drops cached liveness when any instance revokes (see revocation.maxStalenessMs).
  const stopRevocationListener = await startRevocationListener(services.store, services.liveness, {
    observer: services.metrics,
    clock: services.clock,
  });
  const app = createApp(services);
  const tls = config.server.tls;
  const server: Server = tls
    ? createHttpsServer({ cert: await readFile(tls.cert), key: await readFile(tls.key) }, app)
    : createHttpServer(app);
  // Slowloris and idle-connection bounds; keep-alive longer than typical load-balancer idle timeouts.
  server.requestTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 65_000;

  const { host: listenHost, port } = splitListen(config.server.listen);
  const host = listenHost.replace(/^\[(.*)\]$/, '$1'); // net.Server wants an IPv6 address bare
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections become idle as their last response finishes; close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.server.shutdownGraceMs);
      await drained;
      clearInterval(sweep);
      clearTimeout(grace);
      await stopRevocationListener();
      await services.catalog.close();
      await services.devIdp?.close();
      await services.store.close();
    })();
    return closing;
  };
  return { url, services, server, close };
}

/** Wires SIGTERM/SIGINT to a graceful stop; a second signal exits at once. */
export function closeOnSignals(running: RunningServer): void {
  const { logger } = running.services;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    running.close().then(
      () => {
        logger.info('stopped');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
