import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PreconditionFailedError, ValidationError } from '../../src/errors.js';
import { POLICY_RECORD, RoleCatalog, type RoleCatalogOptions } from '../../src/policy/role-catalog.js';
import { RoleResolver } from '../../src/policy/role-resolver.js';
import type { Store } from '../../src/store/types.js';
import { capturingLogger } from '../support/app.js';
import { memoryStoreKind, redisStoreKind, type TestStoreKind } from '../support/stores.js';
import { mapping, oidcIdentity, role } from './fixtures.js';

const clock = { now: () => Date.now() };
const seedRoles = [role({ name: 'reports-reader' }), role({ name: 'billing' })];
const seedMappings = [mapping({ group: 'engineers', roles: ['reports-reader'] })];

async function until(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each([memoryStoreKind(), redisStoreKind()])('RoleCatalog ($kind store)', (kind: TestStoreKind) => {
  const stores: Store[] = [];
  const catalogs: RoleCatalog[] = [];
  const { logger, lines } = capturingLogger();
  const options: RoleCatalogOptions = { seedRoles, seedMappings, logger, knownIdps: ['corp'] };

  function makeStore(): Store {
    const store = kind.make(clock);
    stores.push(store);
    return store;
  }
  async function open(store: Store, overrides: Partial<RoleCatalogOptions> = {}): Promise<RoleCatalog> {
    const catalog = await RoleCatalog.open(store, { ...options, ...overrides });
    catalogs.push(catalog);
    return catalog;
  }

  afterEach(async () => {
    await Promise.all(catalogs.splice(0).map((catalog) => catalog.close()));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await kind.cleanup();
  });

  it('stores the seed on first open, and a second open reads the stored version', async () => {
    const store = makeStore();
    const first = await open(store);
    expect(first.snapshot()).toMatchObject({
      version: expect.any(Number),
      roles: seedRoles,
      mappings: seedMappings,
    });
    expect(await store.config.get(POLICY_RECORD)).toMatchObject({ version: first.snapshot().version });

    const changed = await first.update(
      (current) => ({
        ...current,
        mappings: [...current.mappings, mapping({ group: 'finance', roles: ['billing'] })],
      }),
      first.snapshot().version,
    );
    // Another seed must not overwrite what is stored.
    const second = await open(store, { seedRoles: [], seedMappings: [] });
    expect(second.snapshot()).toEqual(changed);
    expect(second.mappings()).toHaveLength(2);
  });

  it('refuses a stale expected version with PreconditionFailedError (412) and writes nothing', async () => {
    const catalog = await open(makeStore());
    const { version } = catalog.snapshot();
    await catalog.update((current) => ({ ...current, mappings: [] }), version);
    const stale = catalog.update((current) => ({ ...current, roles: [] }), version);
    await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(stale).rejects.toMatchObject({ status: 412 });
    expect(catalog.roles()).toHaveLength(2);
  });

  it('of two concurrent updates at one version, exactly one wins', async () => {
    const catalog = await open(makeStore());
    const { version } = catalog.snapshot();
    const results = await Promise.allSettled(
      ['a', 'b'].map((group) =>
        catalog.update(
          (current) => ({ ...current, mappings: [mapping({ group, roles: ['billing'] })] }),
          version,
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason),
    ).toEqual([expect.any(PreconditionFailedError)]);
  });

  it('validates like the configuration file: unknown role, unknown idp, duplicate role, bad template', async () => {
    const catalog = await open(makeStore());
    const { version } = catalog.snapshot();
    for (const change of [
      { mappings: [{ group: 'x', roles: ['no-such-role'] }] },
      { mappings: [{ idp: 'elsewhere', group: 'x', roles: ['billing'] }] },
      { roles: [...seedRoles, seedRoles[0]] },
      {
        roles: [
          {
            ...seedRoles[0],
            policy: { Statement: [{ Effect: 'Allow', Action: '*', Resource: '${fed:nope}' }] },
          },
        ],
      },
    ]) {
      await expect(
        catalog.update((current) => ({ ...current, ...change }) as never, version),
        JSON.stringify(change),
      ).rejects.toBeInstanceOf(ValidationError);
    }
    expect(catalog.snapshot().version).toBe(version);
  });

  it('an update on one instance reaches another through the published message', async () => {
    const a = await open(makeStore(), { reloadIntervalMs: 60_000 });
    const storeB = kind.twin?.(clock) ?? stores.at(-1)!;
    if (storeB !== stores.at(-1)) stores.push(storeB);
    const b = await open(storeB, { reloadIntervalMs: 60_000 });
    const resolverB = new RoleResolver(b, { maxValueLength: 128 });
    const finance = oidcIdentity({ groups: ['finance'] });
    expect(resolverB.rolesFor(finance)).toEqual([]);

    const started = Date.now();
    const { version } = await a.update(
      (current) => ({
        ...current,
        mappings: [...current.mappings, mapping({ group: 'finance', roles: ['billing'] })],
      }),
      a.snapshot().version,
    );
    await until(() => b.snapshot().version === version, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(resolverB.rolesFor(finance).map((choice) => choice.role.name)).toEqual(['billing']);
  });

  it('an invalid stored record is refused loudly and the seed stays in force', async () => {
    const store = makeStore();
    const written = await store.config.put(
      POLICY_RECORD,
      JSON.stringify({ roles: [], mappings: [{ group: 'x', roles: ['ghost'] }] }),
      0,
    );
    lines.length = 0;
    const catalog = await open(store);
    expect(catalog.snapshot()).toEqual({ roles: seedRoles, mappings: seedMappings, version: written });
    expect(lines.some((line) => /"level":50/.test(line) && line.includes('invalid'))).toBe(true);

    // An update at the stored version repairs the record from what is in force.
    const repaired = await catalog.update((current) => current, written!);
    const stored = JSON.parse((await store.config.get(POLICY_RECORD))!.value) as { roles: unknown[] };
    expect(stored.roles).toHaveLength(2);
    expect(repaired.version).toBeGreaterThan(written!);
  });
});
