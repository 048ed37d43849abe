/**
 * `npm run bench`: throughput and latency of fedproxy's hot paths, each next to a baseline measured in
 * the same run on the same machine, so the figures mean something wherever they are taken.
 *
 *   crypto     Ed25519 sign / verify on the threadpool (what a session token costs at the least)
 *   core       mintCredentials and verifySessionToken against the memory store and Redis
 *   http       GET /healthz, POST /v1/credentials and STS AssumeRoleWithWebIdentity (bearer token,
 *              reused session: the SDK refresh path) vs a bare node:http server
 *
 * Nothing here asserts; it reports. REDIS_URL (default redis://127.0.0.1:6379) is used when it answers.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { buildServices } from '../src/app.js';
import { testConfig } from '../test/support/app.js';
import { startTestIdp } from '../test/support/oidc-idp.js';
import { answers } from '../test/support/redis-server.js';
import { CredentialMinter } from '../src/credentials/mint.js';
import { startServer } from '../src/main.js';
import { demoGrant, demoIdentity } from '../test/support/fixtures.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 2000);
const CONCURRENCY = 64;

interface Result {
  name: string;
  opsPerSec: number;
  p50: number;
  p99: number;
}
const results: Result[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** Runs `op` from CONCURRENCY concurrent loops for DURATION_MS; records ops/s and latency percentiles (ms). */
async function measure(name: string, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 200; i++) await op(i); // warm-up
  const latencies: number[] = [];
  const end = performance.now() + DURATION_MS;
  let counter = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await op(counter++);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  results.push({
    name,
    opsPerSec: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  });
  print(results.at(-1)!);
}

async function measureHttp(
  name: string,
  url: string,
  request: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {},
): Promise<void> {
  const result = await autocannon({ url, connections: 50, duration: DURATION_MS / 1000, ...request });
  if (result.non2xx > 0) console.log(`  (${result.non2xx} non-2xx answers in "${name.trim()}")`);
  const entry = {
    name,
    opsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
  results.push(entry);
  print(entry);
}

function print(r: Result): void {
  console.log(
    `${r.name.padEnd(52)} ${r.opsPerSec.toFixed(0).padStart(9)} ops/s   p50 ${r.p50.toFixed(2).padStart(7)} ms   p99 ${r.p99.toFixed(2).padStart(7)} ms`,
  );
}

async function main(): Promise<void> {
  console.log(
    `fedproxy bench: ${DURATION_MS} ms per case, ${CONCURRENCY} concurrent loops (node ${process.version})\n`,
  );

  console.log('crypto baseline');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signAsync = promisify(sign) as (a: null, d: Buffer, k: typeof privateKey) => Promise<Buffer>;
  const verifyAsync = promisify(verify) as (
    a: null,
    d: Buffer,
    k: typeof publicKey,
    s: Buffer,
  ) => Promise<boolean>;
  const data = Buffer.alloc(400, 1);
  const signature = await signAsync(null, data, privateKey);
  await measure('  baseline: Ed25519 sign (threadpool)', () => signAsync(null, data, privateKey));
  await measure('  baseline: Ed25519 verify (threadpool)', () =>
    verifyAsync(null, data, publicKey, signature),
  );

  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const stores: Array<'memory' | 'redis'> = ['memory'];
  if (await answers(redisUrl)) stores.push('redis');
  else console.log(`\n(no Redis at ${redisUrl}: Redis cases skipped)`);

  for (const type of stores) {
    console.log(`\ncredential core, ${type} store`);
    const keyPrefix = `fp-bench-${process.pid}:`;
    const config = testConfig({
      store: { type, redis: { url: redisUrl, keyPrefix } },
      credentials: { issuer: 'bench' },
    });
    const services = await buildServices(config, { processMetrics: false });
    if (type === 'redis') {
      const raw = new Redis(redisUrl);
      await measure('  baseline: Redis PING round trip', () => raw.ping());
      raw.disconnect();
    }
    const noReuse = new CredentialMinter(services.store, services.keys, services.liveness, services.clock, {
      accountId: config.accountId,
      issuer: 'bench',
      reuseWindowSeconds: 0,
    });
    const tokens: string[] = [];
    await measure('  mintCredentials (new session each time)', async (i) => {
      const c = await noReuse.mintCredentials(demoIdentity({ subject: `u${i % 5000}` }), demoGrant());
      if (tokens.length < 1000) tokens.push(c.sessionToken);
    });
    await services.minter.mintCredentials(demoIdentity(), demoGrant());
    await measure('  mintCredentials (reused session)', () =>
      services.minter.mintCredentials(demoIdentity(), demoGrant()),
    );
    await measure('  verifySessionToken', (i) =>
      services.verifier.verifySessionToken(tokens[i % tokens.length]!),
    );
    if (type === 'redis') {
      const raw = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await raw.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await raw.del(...keys);
      } while (cursor !== '0');
      raw.disconnect();
    }
    await services.store.close();
  }

  console.log('\nhttp (autocannon, 50 connections, same machine)');
  const bare = createServer((_req, res) => res.end('{"status":"ok"}')).listen(0, '127.0.0.1');
  await new Promise((r) => bare.once('listening', r));
  await measureHttp(
    '  baseline: bare node:http',
    `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`,
  );
  bare.close();
  const idp = await startTestIdp();
  const running = await startServer(
    testConfig({
      idps: [{ id: 'ci', type: 'oidc', issuer: idp.issuer, browser: false, audiences: ['fedproxy'] }],
      roles: [{ name: 'ci', policy: { Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] } }],
      mappings: [{ group: 'ci-deployers', roles: ['ci'] }],
      rateLimits: { mintPerMinutePerIp: 10_000_000, mintPerMinutePerPrincipal: 10_000_000 },
    }),
    { processMetrics: false },
  );
  const token = await idp.fetchWorkloadToken();
  await measureHttp('  GET /healthz (full middleware stack)', `${running.url}/healthz`);
  await measureHttp(
    '  POST /v1/credentials (bearer token, reused session)',
    `${running.url}/v1/credentials`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'ci' }),
    },
  );
  await measureHttp('  STS AssumeRoleWithWebIdentity (reused session)', `${running.url}/sts/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: 'arn:aws:iam::000000000000:role/ci',
      RoleSessionName: 'bench',
      WebIdentityToken: token,
    }).toString(),
  });
  await running.close();
  await idp.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
