/**
 * Journey 8 ("a bad day for Redis"), issue 6's "failing closed": a dedicated redis-server is killed
 * (SIGKILL) under traffic and started again, empty, on the same port. While it is down nothing is
 * answered as valid and every failure is a prompt 503 ServiceUnavailable; once it is back the same
 * fedproxy process serves again by itself, and a credential minted before the outage stays dead (its
 * session record went with the old Redis: validity is an allow-list).
 *
 * Traffic is a few concurrent loops of credential requests, `GET /readyz` and `POST /v1/authorize`
 * (SessionVerifier on a session token). Requests are classed by when they ran relative to the outage;
 * only requests wholly inside it must fail, so no assertion depends on exact timings.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/main.js';
import { testConfig } from '../support/app.js';
import { freePort } from '../support/net.js';
import { startTestIdp, type TestIdp } from '../support/oidc-idp.js';
import { startThrowawayRedis } from '../support/redis-server.js';

const VERIFIER_TOKEN = randomBytes(24).toString('base64url');
const WORKERS = 4;
/** Any single request taking longer than this counts as a hang. */
const REQUEST_BOUND_MS = 4000;
const UP_MS = 700;
const DOWN_MS = 1000;
const MIN_AFTER_MS = 1500;
/** ioredis backs off up to ~2 s between reconnects; recovery must happen well within this. */
const MAX_AFTER_MS = 8000;

type Kind = 'mint' | 'readyz' | 'verify-old' | 'verify-new';
type Phase = 'up' | 'killing' | 'down' | 'restarting' | 'after';

interface Credential {
  sessionId: string;
  sessionToken: string;
}

interface Outcome {
  kind: Kind;
  /** ms since the traffic started. */
  started: number;
  ended: number;
  status: number | 'timeout' | 'network-error';
  /** error.code for failures, the authorize code for denials, readyz's status. */
  code?: string;
  allowed?: boolean;
  /** The credential a 200 mint answered. */
  minted?: Credential;
  /** The session a verification asked about. */
  verifiedSession?: string;
}

/** Wall-clock marks of the outage, in ms since the traffic started. */
interface Marks {
  killSent: number;
  /** The redis-server process has exited: from here nothing can be answered by it. */
  dead: number;
  /** Just before the new redis-server is spawned. */
  restartSent: number;
  /** The new redis-server answers PING. */
  back: number;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('failing closed when Redis goes away', () => {
  let idp: TestIdp;
  let fedproxy: RunningServer;
  let redisPort: number;
  let redisProcess: ChildProcess | undefined;
  let workloadToken: string;

  beforeAll(async () => {
    redisPort = await freePort();
    const redis = await startThrowawayRedis(redisPort);
    redisProcess = redis.process;
    idp = await startTestIdp();
    fedproxy = await startServer(
      testConfig({
        store: {
          type: 'redis',
          redis: {
            url: redis.url,
            keyPrefix: `fp-test-failover-${randomBytes(4).toString('hex')}:`,
            commandTimeoutMs: 500,
          },
        },
        idps: [{ id: 'ci', type: 'oidc', issuer: idp.issuer, browser: false, audiences: ['fedproxy'] }],
        roles: [
          {
            name: 'ci-deployer',
            policy: {
              Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::artifacts/*' }],
            },
          },
        ],
        mappings: [{ group: 'ci-deployers', roles: ['ci-deployer'] }],
        verifiers: [{ name: 'failover', sha256: createHash('sha256').update(VERIFIER_TOKEN).digest('hex') }],
        // The loops ask far more often than a real workload; the limits are not under test here.
        rateLimits: { mintPerMinutePerIp: 1_000_000, mintPerMinutePerPrincipal: 1_000_000 },
      }),
      { processMetrics: false },
    );
    workloadToken = await idp.fetchWorkloadToken();
  });

  afterAll(async () => {
    await fedproxy?.close().catch(() => undefined);
    if (redisProcess !== undefined) {
      redisProcess.kill('SIGKILL');
      await waitForExit(redisProcess);
    }
    await idp?.close().catch(() => undefined);
  });

  async function request(path: string, init: RequestInit = {}) {
    try {
      const response = await fetch(`${fedproxy.url}${path}`, {
        ...init,
        signal: AbortSignal.timeout(REQUEST_BOUND_MS + 1000),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    } catch (error) {
      const name = (error as Error).name;
      return { status: name === 'TimeoutError' ? ('timeout' as const) : ('network-error' as const) };
    }
  }

  async function mint(): Promise<Omit<Outcome, 'kind' | 'started' | 'ended'>> {
    const { status, body } = await request('/v1/credentials', {
      method: 'POST',
      headers: { authorization: `Bearer ${workloadToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'ci-deployer' }),
    });
    if (status === 200 && body !== undefined) {
      return {
        status,
        minted: { sessionId: String(body.sessionId), sessionToken: String(body.SessionToken) },
      };
    }
    return { status, ...errorCode(body) };
  }

  async function verify(credential: Credential): Promise<Omit<Outcome, 'kind' | 'started' | 'ended'>> {
    const { status, body } = await request('/v1/authorize', {
      method: 'POST',
      headers: { authorization: `Bearer ${VERIFIER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sessionToken: credential.sessionToken,
        action: 's3:PutObject',
        resource: 'arn:aws:s3:::artifacts/build.zip',
      }),
    });
    const decision =
      status === 200 && body !== undefined
        ? { allowed: body.allowed === true, ...(typeof body.code === 'string' ? { code: body.code } : {}) }
        : errorCode(body);
    return { status, verifiedSession: credential.sessionId, ...decision };
  }

  async function readyz(): Promise<Omit<Outcome, 'kind' | 'started' | 'ended'>> {
    const { status, body } = await request('/readyz');
    return { status, ...(typeof body?.status === 'string' ? { code: body.status } : {}) };
  }

  function errorCode(body: Record<string, unknown> | undefined): { code?: string } {
    const code = (body?.error as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? { code } : {};
  }

  it('answers 503 (never valid) while Redis is down and recovers by itself when it returns empty', async () => {
    const first = await mint();
    expect(first.status).toBe(200);
    const old = first.minted!;
    expect(await verify(old)).toMatchObject({ status: 200, allowed: true });

    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const outcomes: Outcome[] = [];
    /** The newest credential a 200 mint answered. */
    let latest: Credential = old;
    let stop = false;
    let next = 0;
    const kinds: Kind[] = ['mint', 'readyz', 'verify-old', 'verify-new'];

    const worker = async () => {
      while (!stop) {
        const kind = kinds[next++ % kinds.length]!;
        const started = now();
        const result =
          kind === 'mint'
            ? await mint()
            : kind === 'readyz'
              ? await readyz()
              : await verify(kind === 'verify-old' ? old : latest);
        const ended = now();
        if (result.minted !== undefined) latest = result.minted;
        outcomes.push({ kind, started, ended, ...result });
        await sleep(5);
      }
    };
    const recovered = (since: number) => {
      const after = outcomes.filter((o) => o.started >= since);
      return (
        after.some((o) => o.kind === 'readyz' && o.status === 200) &&
        after.some((o) => o.kind === 'mint' && o.status === 200) &&
        after.some((o) => o.allowed === true && o.verifiedSession !== old.sessionId)
      );
    };

    const workers = Array.from({ length: WORKERS }, () => worker());
    let marks: Marks;
    try {
      await sleep(UP_MS);
      const dying = redisProcess!;
      const killSent = now();
      dying.kill('SIGKILL');
      await waitForExit(dying);
      redisProcess = undefined;
      const dead = now();
      await sleep(DOWN_MS);
      const restartSent = now();
      redisProcess = (await startThrowawayRedis(redisPort)).process;
      const back = now();
      marks = { killSent, dead, restartSent, back };
      while (now() - back < MAX_AFTER_MS && (now() - back < MIN_AFTER_MS || !recovered(back)))
        await sleep(50);
    } finally {
      stop = true;
      await Promise.all(workers);
    }

    const phaseOf = (o: Outcome): Phase => {
      if (o.ended < marks.killSent) return 'up';
      if (o.started >= marks.dead && o.ended <= marks.restartSent) return 'down';
      if (o.started >= marks.back) return 'after';
      return o.started < marks.dead ? 'killing' : 'restarting';
    };
    const firstAfter = (match: (o: Outcome) => boolean) => {
      const found = outcomes.filter((o) => o.started >= marks.back && match(o)).map((o) => o.ended);
      return found.length === 0 ? undefined : Math.round(Math.min(...found) - marks.back);
    };
    const recovery = {
      readyz: firstAfter((o) => o.kind === 'readyz' && o.status === 200),
      mint: firstAfter((o) => o.kind === 'mint' && o.status === 200),
      verifyFresh: firstAfter((o) => o.allowed === true && o.verifiedSession !== old.sessionId),
    };
    const summary: Record<string, Record<string, number>> = {};
    for (const o of outcomes) {
      const row = (summary[`${phaseOf(o)} ${o.kind}`] ??= {});
      const label = `${o.status}${o.allowed === undefined ? '' : o.allowed ? ' allowed' : ' denied'}${
        o.code === undefined ? '' : ` ${o.code}`
      }`;
      row[label] = (row[label] ?? 0) + 1;
    }
    const failures = outcomes.filter((o) => o.status !== 200);
    console.log(
      [
        `[failover] ${outcomes.length} requests, ${WORKERS} concurrent; redis killed at ${Math.round(marks.killSent)} ms,` +
          ` dead at ${Math.round(marks.dead)} ms, restarted at ${Math.round(marks.restartSent)} ms,` +
          ` answering at ${Math.round(marks.back)} ms, traffic stopped at ${Math.round(now())} ms`,
        ...Object.entries(summary).map(([key, row]) => `  ${key.padEnd(22)} ${JSON.stringify(row)}`),
        `  slowest request ${Math.round(Math.max(...outcomes.map((o) => o.ended - o.started)))} ms,` +
          ` slowest failure ${Math.round(Math.max(0, ...failures.map((o) => o.ended - o.started)))} ms`,
        `  recovered after redis answered: readyz ${recovery.readyz} ms, mint ${recovery.mint} ms,` +
          ` fresh credential verifies ${recovery.verifyFresh} ms`,
      ].join('\n'),
    );

    // Every answer was prompt, and every failure was the documented one.
    expect(outcomes.filter((o) => o.ended - o.started > REQUEST_BOUND_MS)).toEqual([]);
    for (const o of failures) {
      expect(o, `${phaseOf(o)} ${o.kind}`).toMatchObject({
        status: 503,
        code: o.kind === 'readyz' ? 'unavailable' : 'ServiceUnavailable',
      });
    }

    // While Redis was down the outage was seen by every kind of request, and nothing was answered as valid.
    const down = outcomes.filter((o) => phaseOf(o) === 'down');
    for (const kind of kinds) expect(down.filter((o) => o.kind === kind).length, kind).toBeGreaterThan(0);
    expect(down.filter((o) => o.status !== 503)).toEqual([]);

    // Nothing minted before the kill was taken as valid after it: its session went with the old Redis.
    const oldAfterKill = outcomes.filter(
      (o) => o.verifiedSession === old.sessionId && o.started >= marks.dead,
    );
    expect(oldAfterKill.filter((o) => o.allowed === true)).toEqual([]);
    // Mints that succeeded after the kill made new sessions in the new Redis.
    const mintedAfterKill = outcomes.filter((o) => o.minted !== undefined && o.started >= marks.dead);
    expect(mintedAfterKill.filter((o) => o.minted!.sessionId === old.sessionId)).toEqual([]);

    // The same process serves again.
    expect(recovery).toEqual({
      readyz: expect.any(Number),
      mint: expect.any(Number),
      verifyFresh: expect.any(Number),
    });
    const ready = await request('/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready' } });
    const fresh = await mint();
    expect(fresh.status).toBe(200);
    expect(fresh.minted!.sessionId).not.toBe(old.sessionId);
    expect(await verify(fresh.minted!)).toMatchObject({ status: 200, allowed: true });
    expect(await verify(old)).toMatchObject({ status: 200, allowed: false, code: 'InvalidClientTokenId' });
  });
});
