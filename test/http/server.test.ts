import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/main.js';
import type { Store } from '../../src/store/types.js';
import { createStore } from '../../src/store/index.js';
import { testConfig } from '../support/app.js';

function getOverTls(url: string, ca: string): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('server', () => {
  it('serves HTTPS natively with the configured certificate and key', async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const dir = await mkdtemp(join(tmpdir(), 'fedproxy-tls-'));
    await writeFile(join(dir, 'tls.crt'), pems.cert);
    await writeFile(join(dir, 'tls.key'), pems.private, { mode: 0o600 });
    const running = await startServer(
      testConfig({
        server: { listen: '127.0.0.1:0', tls: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') } },
      }),
      { processMetrics: false },
    );
    try {
      expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await getOverTls(`${running.url}/healthz`, pems.cert);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
      expect(res.protocol).toMatch(/^TLSv1\.[23]$/);
      // A client that does not trust the certificate is refused by TLS itself.
      await expect(getOverTls(`${running.url}/healthz`, '')).rejects.toThrow();
    } finally {
      await running.close();
    }
  });

  it('a graceful stop finishes in-flight requests, refuses new connections, then closes the store', async () => {
    const inner = createStore(testConfig().store, {});
    let closed = false;
    let releasePing: () => void = () => {};
    let signalPingStarted: () => void = () => {};
    const pingStarted = new Promise<void>((resolve) => (signalPingStarted = resolve));
    const slowStore: Store = {
      kind: inner.kind,
      sessions: inner.sessions,
      notBefore: inner.notBefore,
      once: inner.once,
      loginSessions: inner.loginSessions,
      rateCounters: inner.rateCounters,
      config: inner.config,
      audit: inner.audit,
      pubsub: inner.pubsub,
      ping: () => {
        signalPingStarted();
        return new Promise<void>((resolve) => (releasePing = resolve));
      },
      close: async () => {
        closed = true;
        await inner.close();
      },
    };
    const running = await startServer(testConfig(), { processMetrics: false, store: slowStore });
    const inFlight = fetch(`${running.url}/readyz`);
    await pingStarted;
    const stopping = running.close();
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
    expect(closed).toBe(false);
    releasePing();
    expect((await inFlight).status).toBe(200);
    await stopping;
    expect(closed).toBe(true);
  });
});
