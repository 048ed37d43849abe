/**
 * `npm run bench`: fedproxy's throughput, latency, revocation lag and footprint, each next to a baseline
 * measured in the same run on the same machine, so the figures mean something wherever they are taken.
 *
 * fedproxy runs as an operator runs it: `fedproxy serve`, production mode, Redis store, one process, info
 * logs. The baseline is Express 5 + helmet answering a JSON hello, also in a process of its own. autocannon
 * (this process) drives each with 50 keep-alive connections; scenarios and baseline take turns, round
 * after round, so a slow moment of the machine is shared out instead of landing on one figure. Every
 * scenario's answer is checked before and after its load.
 *
 * Nothing here asserts a figure; it reports them, next to the targets, and writes them as JSON under
 * bench/results/.
 *
 *   npm run bench                      the whole run (about five minutes)
 *   npm run bench -- --profile         also CPU-profile fedproxy under load and list the top functions
 *   BENCH_MS=3000 BENCH_ONLY=a,b npm run bench    shorter loads, chosen scenarios (ids as in the table)
 *
 * Settings (environment): BENCH_MS (load per run, default 10000), BENCH_WARMUP_MS (2000), BENCH_ROUNDS (2),
 * BENCH_SESSIONS (100000, for Redis memory), BENCH_REVOCATIONS (1000), BENCH_ONLY, REDIS_URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { principalId } from '../src/auth/identity.js';
import { generateStoredKeySet } from '../src/credentials/keys.js';
import { startTestIdp } from '../test/support/oidc-idp.js';
import { answers } from '../test/support/redis-server.js';
import { CONNECTIONS, drive, type LoadResult } from './harness/load.js';
import { startFedproxyProcess, type RunningProcess } from '../test/support/fedproxy-process.js';
import { startBaseline } from './harness/processes.js';
import { summarizeProfile, type ProfileSummary } from './harness/profile.js';
import { measureRedisMemory, type RedisMemoryResult } from './redis-memory.js';
import { measureRevocationLag, type RevocationLagResult } from './revocation-lag.js';
import {
  ACCOUNT_ID,
  baselineScenario,
  credentialsRequest,
  fedproxyScenarios,
  ROLE,
  type HttpScenario,
  type VendedCredentials,
} from './scenarios.js';

const settings = {
  loadMs: Number(process.env.BENCH_MS ?? 10_000),
  warmUpMs: Number(process.env.BENCH_WARMUP_MS ?? 2000),
  rounds: Number(process.env.BENCH_ROUNDS ?? 2),
  sessions: Number(process.env.BENCH_SESSIONS ?? 100_000),
  revocations: Number(process.env.BENCH_REVOCATIONS ?? 1000),
  only: process.env.BENCH_ONLY?.split(',').map((id) => id.trim()),
  profile: process.argv.includes('--profile'),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** The targets, as ratios to the baseline's req/s (a scenario without one has only the latency target). */
const TARGET_RATIO: Record<string, number> = { a: 0.75, b: 0.85, c: 0.85, d: 0.8, e: 0.8 };
const TARGET_P99_MS = 25;
const TARGET_LAG_P99_MS = 50;
const TARGET_BYTES_PER_SESSION = 1024;
const TARGET_TOKEN_BYTES = 600;

const GROUP = 'ci-deployers';
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const VERIFIER_TOKEN = randomBytes(24).toString('base64url');
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

interface ScenarioFigures {
  id: string;
  name: string;
  rounds: LoadResult[];
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  ratio: number;
  target: string;
  met: boolean;
}

function fedproxyConfig(idpIssuer: string, keyPrefix: string): Record<string, unknown> {
  return {
    mode: 'production',
    store: { type: 'redis', redis: { url: settings.redisUrl, keyPrefix } },
    accountId: ACCOUNT_ID,
    // Instances of one deployment share the issuer of session tokens (by default each one's public URL).
    credentials: { issuer: 'https://fedproxy.bench.example' },
    idps: [{ id: 'ci', type: 'oidc', issuer: idpIssuer, browser: false, audiences: ['fedproxy'] }],
    roles: [{ name: ROLE, policy: { Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] } }],
    mappings: [{ group: GROUP, roles: [ROLE] }],
    admin: { tokens: [{ name: 'bench', sha256: sha256(ADMIN_TOKEN) }] },
    verifiers: [{ name: 'bench', sha256: sha256(VERIFIER_TOKEN) }],
    // The counters still run on every request; the bench only must not hit the ceiling.
    rateLimits: { mintPerMinutePerIp: 1_000_000_000, mintPerMinutePerPrincipal: 1_000_000_000 },
    revocation: { maxStalenessMs: 1000 },
    log: { level: 'info' },
  };
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function summarize(scenario: HttpScenario, rounds: LoadResult[], baselineRps: number): ScenarioFigures {
  const requestsPerSecond = mean(rounds.map((r) => r.requestsPerSecond));
  const p99Ms = Math.max(...rounds.map((r) => r.p99Ms));
  const errors = rounds.reduce((sum, r) => sum + r.errors, 0);
  const ratio = requestsPerSecond / baselineRps;
  const wanted = TARGET_RATIO[scenario.id];
  const met =
    scenario.target === 'baseline' || (ratio >= (wanted ?? 0) && p99Ms <= TARGET_P99_MS && errors === 0);
  return {
    id: scenario.id,
    name: scenario.name,
    rounds,
    requestsPerSecond,
    p50Ms: mean(rounds.map((r) => r.p50Ms)),
    p99Ms,
    errors,
    ratio,
    target: wanted === undefined ? '' : `≥ ${wanted.toFixed(2)}×, p99 ≤ ${TARGET_P99_MS} ms, 0 errors`,
    met,
  };
}

async function vend(url: string, token: string): Promise<VendedCredentials & { sessionId: string }> {
  const request = credentialsRequest(token, true);
  const response = await fetch(`${url}${request.path}`, {
    method: 'POST',
    headers: request.headers!,
    body: request.nextBody!(),
  });
  if (response.status !== 200) throw new Error(`could not vend credentials: HTTP ${response.status}`);
  return (await response.json()) as VendedCredentials & { sessionId: string };
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(settings.redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

const print = (line = '') => console.log(line);
const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

function printTable(figures: ScenarioFigures[]): void {
  // Each round's req/s too: how far they differ says how much the mean can be trusted.
  print('| id | scenario | req/s | each round | p50 ms | p99 ms | errors | × baseline | target | |');
  print('|---|---|---|---|---|---|---|---|---|---|');
  for (const f of figures)
    print(
      `| ${f.id} | ${f.name} | ${fixed(f.requestsPerSecond)} | ${f.rounds.map((r) => fixed(r.requestsPerSecond)).join(' / ')} | ${fixed(f.p50Ms, 1)} | ${fixed(f.p99Ms, 1)} | ${f.errors} | ${f.ratio.toFixed(2)} | ${f.target} | ${f.target === '' ? '' : f.met ? 'met' : 'missed'} |`,
    );
}

function printProfile(summary: ProfileSummary): void {
  print(`\nCPU profile of fedproxy, main thread, share of its ${summary.samples} busy samples (self time):`);
  for (const entry of summary.functions)
    print(`  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.name}`);
  print('by package:');
  for (const entry of summary.packages)
    print(`  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.name}`);
}

async function main(): Promise<void> {
  if (!(await answers(settings.redisUrl)))
    throw new Error(`No Redis answers at ${settings.redisUrl}: start one (see README) or set REDIS_URL`);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}`;
  print(`fedproxy bench, ${new Date().toISOString()}: ${machine}`);
  print(
    `autocannon ${CONNECTIONS} connections, ${settings.warmUpMs} ms warm-up + ${settings.loadMs} ms per run, ${settings.rounds} interleaved rounds\n`,
  );

  const resultsDir = join(import.meta.dirname, 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-');
  const workDir = await mkdtemp(join(tmpdir(), 'fedproxy-bench-'));
  const profileDir = join(workDir, 'profile');
  const keyPrefix = `fp-bench-${randomBytes(4).toString('hex')}:`;
  const keys = JSON.stringify([generateStoredKeySet()]);
  const idp = await startTestIdp();
  const config = fedproxyConfig(idp.issuer, keyPrefix);
  const processes: RunningProcess[] = [];
  try {
    const baseline = await startBaseline();
    processes.push(baseline);
    const a = await startFedproxyProcess({
      name: 'a',
      config,
      keys,
      workDir,
      nodeArgs: settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    processes.push(a);

    const workloadToken = await idp.fetchWorkloadToken();
    const credentials = await vend(a.url, workloadToken);
    const scenarios = [
      baselineScenario(),
      ...(await fedproxyScenarios({
        fedproxyUrl: a.url,
        workloadToken,
        verifierToken: VERIFIER_TOKEN,
        credentials,
      })),
    ].filter((s) => s.target === 'baseline' || settings.only === undefined || settings.only.includes(s.id));
    const urlOf = (s: HttpScenario) => (s.target === 'baseline' ? baseline.url : a.url);

    for (const scenario of scenarios) await scenario.check(urlOf(scenario));
    const rounds = new Map<string, LoadResult[]>(scenarios.map((s) => [s.id, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      for (const scenario of scenarios) {
        const result = await drive(urlOf(scenario), scenario.request, settings.loadMs, settings.warmUpMs);
        rounds.get(scenario.id)!.push(result);
        print(
          `round ${round}  ${scenario.id.padEnd(4)} ${scenario.name.padEnd(54)} ${fixed(result.requestsPerSecond).padStart(6)} req/s  p50 ${fixed(result.p50Ms, 1).padStart(5)} ms  p99 ${fixed(result.p99Ms, 1).padStart(5)} ms  errors ${result.errors}`,
        );
      }
    }
    for (const scenario of scenarios) await scenario.check(urlOf(scenario));
    const tokenBytes = Buffer.byteLength(credentials.SessionToken);

    const baselineRps = mean(rounds.get('base')!.map((r) => r.requestsPerSecond));
    const figures = scenarios.map((s) => summarize(s, rounds.get(s.id)!, baselineRps));
    await a.stop();
    let profile: ProfileSummary | undefined;
    let profileFile: string | undefined;
    if (settings.profile) {
      const [file] = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
      if (file !== undefined) {
        // Kept beside the results: Chrome DevTools (Performance, Load profile) shows it as a flame chart.
        profileFile = join(resultsDir, `fedproxy-${stamp}.cpuprofile`);
        await copyFile(join(profileDir, file), profileFile);
        profile = await summarizeProfile(profileFile);
      }
    }

    let lag: RevocationLagResult | undefined;
    if (settings.revocations > 0) {
      print(`\nrevocation propagation: ${settings.revocations} revocations, A → B`);
      const pair = [
        await startFedproxyProcess({ name: 'lag-a', config, keys, workDir }),
        await startFedproxyProcess({ name: 'lag-b', config, keys, workDir }),
      ];
      processes.push(...pair);
      lag = await measureRevocationLag({
        a: pair[0]!.url,
        b: pair[1]!.url,
        workloadToken,
        principal: principalId({ issuer: idp.issuer, subject: idp.workloadClient.clientId }),
        group: GROUP,
        adminToken: ADMIN_TOKEN,
        verifierToken: VERIFIER_TOKEN,
        count: settings.revocations,
      });
    }

    let memory: RedisMemoryResult | undefined;
    if (settings.sessions > 0) {
      print(`redis memory: ${settings.sessions} live sessions in a Redis of their own`);
      memory = await measureRedisMemory(settings.sessions);
    }

    print('\n## Results\n');
    print(`${new Date().toISOString().slice(0, 10)}, ${machine}; load generator on the same machine.\n`);
    printTable(figures);
    print('\n| measure | result | target | |');
    print('|---|---|---|---|');
    if (lag !== undefined)
      print(
        `| f: revocation propagation A → B, ${lag.count} revocations | p50 ${fixed(lag.p50Ms, 1)} ms, p99 ${fixed(lag.p99Ms, 1)} ms, max ${fixed(lag.maxMs, 1)} ms, ${lag.missed} missed | p99 ≤ ${TARGET_LAG_P99_MS} ms | ${lag.p99Ms <= TARGET_LAG_P99_MS && lag.missed === 0 ? 'met' : 'missed'} |`,
      );
    if (memory !== undefined)
      print(
        `| g: Redis memory per live session (${memory.sessions} sessions) | ${fixed(memory.bytesPerSession)} bytes (${fixed(memory.keysPerSession, 2)} keys; record alone ${memory.recordBytes} bytes) | ≤ ${TARGET_BYTES_PER_SESSION} bytes | ${memory.bytesPerSession <= TARGET_BYTES_PER_SESSION ? 'met' : 'missed'} |`,
      );
    print(
      `| h: session token size | ${tokenBytes} bytes | ≤ ${TARGET_TOKEN_BYTES} bytes | ${tokenBytes <= TARGET_TOKEN_BYTES ? 'met' : 'missed'} |`,
    );
    if (lag !== undefined) {
      print('\nrevocation lag by scope (p50 / p99 ms):');
      for (const [scope, values] of Object.entries(lag.byScope))
        print(`  ${scope.padEnd(8)} ${fixed(values.p50Ms, 1)} / ${fixed(values.p99Ms, 1)}`);
    }
    if (profile !== undefined) printProfile(profile);

    const file = join(resultsDir, `bench-${stamp}.json`);
    await writeFile(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), machine, settings, figures, lag, memory, tokenBytes, profile }, null, 2)}\n`,
    );
    print(`\nwritten: ${file}${profileFile === undefined ? '' : ` and ${profileFile}`}`);
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await idp.close();
    await deleteKeys(keyPrefix);
    await rm(workDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
