import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildServices, createApp, type Services } from '../../src/app.js';
import { AuditLog } from '../../src/audit/index.js';
import { ManualClock } from '../../src/clock.js';
import { idpSchema } from '../../src/config/schema.js';
import { CredentialIssuer } from '../../src/credentials/issuer.js';
import { generateStoredKeySet, importKeySet, KeyRing } from '../../src/credentials/keys.js';
import { LivenessChecker } from '../../src/credentials/liveness.js';
import { CredentialMinter } from '../../src/credentials/mint.js';
import {
  REVOCATION_CHANNEL,
  RevocationService,
  startRevocationListener,
} from '../../src/credentials/revocation.js';
import { AccessDeniedError, StoreUnavailableError } from '../../src/errors.js';
import { Metrics } from '../../src/http/metrics.js';
import { RoleResolver } from '../../src/policy/role-resolver.js';
import { createStore } from '../../src/store/index.js';
import { instrumentStore } from '../../src/store/instrumented.js';
import type { Store } from '../../src/store/types.js';
import { capturingLogger, testConfig } from '../support/app.js';
import { demoIdentity } from '../support/fixtures.js';
import { mapping, role } from '../policy/fixtures.js';
import { describeStoreConformance } from '../store/conformance.js';

const ring = new KeyRing([importKeySet(generateStoredKeySet(new Date('2026-01-01')), '2026-01-01')]);

function memoryStore(clock: ManualClock): Store {
  return createStore(
    { type: 'memory', redis: { url: '', keyPrefix: 'fp:', commandTimeoutMs: 2000 }, auditMaxLength: 1000 },
    { clock },
  );
}

/** The current value of one series (a counter, or a histogram's `_count`/`_sum`); 0 when absent. */
async function sample(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
  metricName = name,
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find(
    (value) =>
      ((value as { metricName?: string }).metricName ?? name) === metricName &&
      Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted),
  );
  return found?.value ?? 0;
}

const storeCount = (metrics: Metrics, operation: string) =>
  sample(
    metrics,
    'fedproxy_store_operation_duration_seconds',
    { operation },
    'fedproxy_store_operation_duration_seconds_count',
  );
const storeErrors = (metrics: Metrics, operation: string) =>
  sample(metrics, 'fedproxy_store_errors_total', { operation });

describe('instrumented store', () => {
  let clock: ManualClock;
  let memory: Store;
  let metrics: Metrics;

  beforeEach(() => {
    clock = new ManualClock();
    memory = memoryStore(clock);
    metrics = new Metrics({ processMetrics: false });
  });
  afterEach(() => memory.close());

  it('times each operation under its <sub-store>.<method> name and passes results through', async () => {
    const store = instrumentStore(memory, metrics);
    expect(store.kind).toBe('memory');
    expect(await store.once.putIfAbsent('ns', 'k', 'v', 60_000)).toBe(true);
    expect(await store.once.putIfAbsent('ns', 'k', 'w', 60_000)).toBe(false);
    expect(await store.once.take('ns', 'k')).toBe('v');
    expect(await store.sessions.get('no-such-sid')).toBeNull();
    await store.ping();

    expect(await storeCount(metrics, 'once.putIfAbsent')).toBe(2);
    expect(await storeCount(metrics, 'once.take')).toBe(1);
    expect(await storeCount(metrics, 'sessions.get')).toBe(1);
    expect(await storeCount(metrics, 'ping')).toBe(1);
    expect(await storeErrors(metrics, 'once.putIfAbsent')).toBe(0);
    const sum = await sample(
      metrics,
      'fedproxy_store_operation_duration_seconds',
      { operation: 'once.putIfAbsent' },
      'fedproxy_store_operation_duration_seconds_sum',
    );
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(sum).toBeLessThan(1);
  });

  it('counts a rejection and re-throws the very same error', async () => {
    const store = instrumentStore(memory, metrics);
    // Broken after wrapping: the wrapper calls whatever the wrapped store has at call time.
    const failure = new StoreUnavailableError('redis is down');
    vi.spyOn(memory.sessions, 'get').mockRejectedValue(failure);

    await expect(store.sessions.get('sid-1')).rejects.toBe(failure);
    await expect(store.sessions.get('sid-2')).rejects.toBe(failure);
    expect(await store.sessions.revoke('sid-3', Date.now())).toBe(false);

    expect(await storeErrors(metrics, 'sessions.get')).toBe(2);
    expect(await storeCount(metrics, 'sessions.get')).toBe(2); // failed operations are timed too
    expect(await storeErrors(metrics, 'sessions.revoke')).toBe(0);
    expect(await storeCount(metrics, 'sessions.revoke')).toBe(1);
  });

  it('counts every operation of a closed store as failed (an unreachable backend)', async () => {
    const store = instrumentStore(memory, metrics);
    await store.close();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.notBefore.get(['global'])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await storeErrors(metrics, 'ping')).toBe(1);
    expect(await storeErrors(metrics, 'notBefore.get')).toBe(1);
  });
});

describeStoreConformance('memory, instrumented', () => {
  const clock = new ManualClock();
  const metrics = new Metrics({ processMetrics: false });
  return {
    clock,
    elapse: async (ms) => clock.advance(ms),
    open: () => instrumentStore(memoryStore(clock), metrics),
    // One process, one memory: a second instance is the same store.
    openPeer: (store) => store,
  };
});

describe('credential counters', () => {
  const roles = [role({ name: 'reports-reader' }), role({ name: 'billing-admin' })];
  const mappings = [mapping({ group: 'engineers', roles: ['reports-reader'] })];
  const boundIdp = idpSchema.parse({
    id: 'bound',
    type: 'oidc',
    issuer: 'https://login.bound.example',
    bindCredentialsToToken: true,
  });
  let clock: ManualClock;
  let store: Store;
  let metrics: Metrics;
  let issuer: CredentialIssuer;

  beforeEach(() => {
    clock = new ManualClock();
    store = memoryStore(clock);
    metrics = new Metrics({ processMetrics: false, roles: roles.map(({ name }) => name) });
    const liveness = new LivenessChecker(store, clock);
    const minter = new CredentialMinter(store, ring, liveness, clock, {
      accountId: '123456789012',
      issuer: 'https://fedproxy.test',
      reuseWindowSeconds: 300,
    });
    const resolver = new RoleResolver(
      { roles: () => roles, mappings: () => mappings },
      { maxValueLength: 256 },
    );
    const audit = new AuditLog({ store, logger: capturingLogger().logger, clock });
    issuer = new CredentialIssuer(resolver, minter, [boundIdp], audit, metrics);
  });
  afterEach(() => store.close());

  const credentials = (outcome: string, roleLabel: string) =>
    sample(metrics, 'fedproxy_credentials_total', { outcome, role: roleLabel });

  it('counts minted, then reused, by role', async () => {
    const first = await issuer.issue(demoIdentity(), 'reports-reader', {});
    const second = await issuer.issue(demoIdentity(), 'reports-reader', {});
    expect([first.reused, second.reused]).toEqual([false, true]);
    expect(await credentials('minted', 'reports-reader')).toBe(1);
    expect(await credentials('reused', 'reports-reader')).toBe(1);
    expect(await credentials('denied', 'reports-reader')).toBe(0);
  });

  it('counts a denial under a configured role name, and any other name as "other"', async () => {
    await expect(issuer.issue(demoIdentity(), 'billing-admin', {})).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(issuer.issue(demoIdentity(), 'attacker-chosen-1234', {})).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect(await credentials('denied', 'billing-admin')).toBe(1);
    expect(await credentials('denied', 'other')).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('attacker-chosen-1234');
  });

  it('counts the minter refusing an IdP session that ends too soon as denied', async () => {
    const identity = demoIdentity({ idp: 'bound', expiresAt: clock.now() + 5_000 });
    await expect(issuer.issue(identity, 'reports-reader', {})).rejects.toBeInstanceOf(AccessDeniedError);
    expect(await credentials('denied', 'reports-reader')).toBe(1);
    expect(await credentials('minted', 'reports-reader')).toBe(0);
  });

  it('labels every role "other" when the metrics know no roles', async () => {
    const unconfigured = new Metrics({ processMetrics: false });
    unconfigured.credential('minted', 'reports-reader');
    expect(
      await sample(unconfigured, 'fedproxy_credentials_total', { outcome: 'minted', role: 'other' }),
    ).toBe(1);
  });
});

describe('revocation metrics', () => {
  const T0 = Date.UTC(2026, 0, 1);
  let store: Store;
  const stops: (() => Promise<void>)[] = [];

  beforeEach(() => {
    store = memoryStore(new ManualClock(T0));
  });
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
    await store.close();
  });

  /** One fedproxy instance on the shared memory store, with its own clock and metrics. */
  async function instance(clock: ManualClock) {
    const metrics = new Metrics({ processMetrics: false });
    const liveness = new LivenessChecker(store, clock, { maxStalenessMs: 60_000 });
    const revocations = new RevocationService(store, liveness, clock, { maxClockSkewSeconds: 30 }, metrics);
    stops.push(await startRevocationListener(store, liveness, { observer: metrics, clock }));
    return { metrics, liveness, revocations };
  }
  const delivered = () => new Promise((resolve) => setTimeout(resolve, 0));
  const propagation = (metrics: Metrics, series: 'count' | 'sum') =>
    sample(
      metrics,
      'fedproxy_revocation_propagation_seconds',
      {},
      `fedproxy_revocation_propagation_seconds_${series}`,
    );

  it('counts revocations by scope on the revoking instance only', async () => {
    const a = await instance(new ManualClock(T0));
    const b = await instance(new ManualClock(T0));
    await a.revocations.revoke({ scope: 'role', value: 'reports-reader', reason: 'test' });
    await a.revocations.revoke({ scope: 'all', reason: 'test' });
    await a.revocations.revoke({ scope: 'all', reason: 'test' });
    expect(await sample(a.metrics, 'fedproxy_revocations_total', { scope: 'role' })).toBe(1);
    expect(await sample(a.metrics, 'fedproxy_revocations_total', { scope: 'all' })).toBe(2);
    expect(await sample(a.metrics, 'fedproxy_revocations_total', { scope: 'session' })).toBe(0);
    expect(await sample(b.metrics, 'fedproxy_revocations_total', { scope: 'all' })).toBe(0);
  });

  it('does not count a refused revocation', async () => {
    const a = await instance(new ManualClock(T0));
    await expect(
      a.revocations.revoke({ scope: 'session', value: 'no-such-sid', reason: 'test' }),
    ).rejects.toThrow('No such session');
    expect(await sample(a.metrics, 'fedproxy_revocations_total', { scope: 'session' })).toBe(0);
  });

  it('counts a revocation whose fan-out publish failed (the write stands)', async () => {
    const a = await instance(new ManualClock(T0));
    vi.spyOn(store.pubsub, 'publish').mockRejectedValue(new StoreUnavailableError('redis is down'));
    await expect(a.revocations.revoke({ scope: 'all', reason: 'test' })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(await sample(a.metrics, 'fedproxy_revocations_total', { scope: 'all' })).toBe(1);
  });

  it('observes on each instance the lag from the revoking instance taking it to the message arriving', async () => {
    const a = await instance(new ManualClock(T0));
    const b = await instance(new ManualClock(T0 + 250));
    await a.revocations.revoke({ scope: 'principal', value: 'p-alice', reason: 'test' });
    await delivered();
    expect(await propagation(b.metrics, 'count')).toBe(1);
    expect(await propagation(b.metrics, 'sum')).toBeCloseTo(0.25, 6);
    // The revoking instance hears its own message too, without lag on its own clock.
    expect(await propagation(a.metrics, 'count')).toBe(1);
    expect(await propagation(a.metrics, 'sum')).toBe(0);
  });

  it('records a receiver clock behind the revoker as zero lag, never negative', async () => {
    const a = await instance(new ManualClock(T0 + 1_000));
    const b = await instance(new ManualClock(T0));
    await a.revocations.revoke({ scope: 'all', reason: 'test' });
    await delivered();
    expect(await propagation(b.metrics, 'count')).toBe(1);
    expect(await propagation(b.metrics, 'sum')).toBe(0);
  });

  it('observes nothing for a message without a time, and still drops the cache', async () => {
    const b = await instance(new ManualClock(T0));
    const invalidate = vi.spyOn(b.liveness, 'invalidate');
    await store.pubsub.publish(REVOCATION_CHANNEL, 'not json');
    await store.pubsub.publish(REVOCATION_CHANNEL, JSON.stringify({ v: 1, key: 'global' }));
    await delivered();
    expect(invalidate.mock.calls).toEqual([[undefined], ['global']]);
    expect(await propagation(b.metrics, 'count')).toBe(0);
  });
});

describe('GET /metrics', () => {
  let services: Services;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    services = await buildServices(testConfig(), { processMetrics: false });
    app = createApp(services);
  });
  afterAll(() => services.store.close());

  it('lists the credential, revocation and store series, known label values starting at zero', async () => {
    const { metrics } = services;
    // A store of its own, so the counts below are this test's whether or not app.ts wraps services.store.
    const store = instrumentStore(memoryStore(new ManualClock(services.clock.now())), metrics);
    const liveness = new LivenessChecker(store, services.clock);
    const revocations = new RevocationService(
      store,
      liveness,
      services.clock,
      { maxClockSkewSeconds: 30 },
      metrics,
    );
    const stop = await startRevocationListener(store, liveness, { observer: metrics, clock: services.clock });
    await revocations.revoke({ scope: 'group', value: 'engineers', reason: 'test' });
    await new Promise((resolve) => setTimeout(resolve, 0));
    await stop();
    await store.close();

    const { text } = await request(app).get('/metrics').expect(200);
    expect(text).toContain('fedproxy_credentials_total{outcome="minted",role="other"} 0');
    expect(text).toContain('fedproxy_credentials_total{outcome="denied",role="other"} 0');
    expect(text).toContain('fedproxy_revocations_total{scope="group"} 1');
    expect(text).toContain('fedproxy_revocations_total{scope="session"} 0');
    expect(text).toContain('fedproxy_revocation_propagation_seconds_count 1');
    expect(text).toMatch(/fedproxy_revocation_propagation_seconds_bucket\{le="\+Inf"\} 1/);
    expect(text).toMatch(/fedproxy_store_operation_duration_seconds_count\{operation="notBefore.raise"\} 1/);
    expect(text).toMatch(/fedproxy_store_operation_duration_seconds_count\{operation="pubsub.publish"\} 1/);
    expect(text).toContain('# TYPE fedproxy_store_errors_total counter');
  });
});
