import { z } from 'zod';
import {
  mappingSchema,
  roleAndMappingProblems,
  roleSchema,
  type MappingConfig,
  type RoleConfig,
} from '../config/schema.js';
import { PreconditionFailedError, ValidationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';

/** The config record holding roles and mappings together, so a change to both is one atomic write. */
export const POLICY_RECORD = 'policy';
/** Published after every change; the store prefixes it, so deployments sharing a Redis stay apart. */
export const POLICY_CHANGED_CHANNEL = 'policy-changed';
/** Safety net for a lost pub/sub message: every instance re-reads the record this often. */
export const POLICY_RELOAD_INTERVAL_MS = 30_000;

/** The roles and mappings in force, and the stored version they came from (the ETag). */
export interface PolicySnapshot {
  readonly roles: readonly RoleConfig[];
  readonly mappings: readonly MappingConfig[];
  /** The config record's version; 0 only before anything was stored. */
  readonly version: number;
}

/** What a change works on and returns: roles and mappings, each as the schemas accept them. */
export interface PolicyContent {
  roles: readonly RoleConfig[];
  mappings: readonly MappingConfig[];
}

/** Where RoleResolver reads roles and mappings from on every request; must answer from memory. */
export interface RoleSource {
  roles(): readonly RoleConfig[];
  mappings(): readonly MappingConfig[];
}

export interface RoleCatalogOptions {
  /** The configuration file's roles and mappings (already validated): stored on first start. */
  seedRoles: readonly RoleConfig[];
  seedMappings: readonly MappingConfig[];
  logger: Pick<Logger, 'error' | 'warn' | 'info'>;
  /** IdP ids a mapping may name (configured IdPs, plus `dev` when enabled); unchecked when absent. */
  knownIdps?: readonly string[];
  /** Reload period; POLICY_RELOAD_INTERVAL_MS by default (tests shorten it). */
  reloadIntervalMs?: number;
}

const policyContentSchema = z.strictObject({
  roles: z.array(roleSchema),
  mappings: z.array(mappingSchema),
});

/** Parses and cross-checks roles and mappings; every problem at once, each with its path. */
function validatePolicy(
  input: unknown,
  idps: ReadonlySet<string> | undefined,
): { ok: true; value: PolicyContent } | { ok: false; problems: string[] } {
  const parsed = policyContentSchema.safeParse(input);
  if (!parsed.success)
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    };
  const problems = roleAndMappingProblems(parsed.data.roles, parsed.data.mappings, idps);
  if (problems.length > 0)
    return { ok: false, problems: problems.map((p) => `${p.path.join('.')}: ${p.message}`) };
  return { ok: true, value: parsed.data };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The roles and mappings in force, kept as an in-memory snapshot so the request path never asks the
 * store. Every instance holds one; the config record `policy` in the store is the source of truth.
 *
 * Contract:
 * - `snapshot()`, `roles()` and `mappings()` answer from memory and never fail.
 * - `update` reads the stored record, refuses (PreconditionFailedError, 412) unless its version is
 *   `expectedVersion`, applies `change` to what is stored (never to a possibly stale local copy),
 *   validates the result, writes it with compare-and-set, and replaces this instance's snapshot before
 *   it resolves: a request that starts on this instance afterwards sees the change.
 * - Other instances see it when the `policy-changed` message arrives (usually within milliseconds), and at
 *   the latest after the reload interval (pub/sub is at-most-once).
 * - A snapshot is only replaced by a newer version, so a slow reload never undoes a later update.
 */
export class RoleCatalog implements RoleSource {
  private current: PolicySnapshot;
  private readonly idps: ReadonlySet<string> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    private readonly store: Pick<Store, 'config' | 'pubsub'>,
    private readonly options: RoleCatalogOptions,
  ) {
    this.current = { roles: options.seedRoles, mappings: options.seedMappings, version: 0 };
    this.idps = options.knownIdps === undefined ? undefined : new Set(options.knownIdps);
  }

  /**
   * Loads the stored roles and mappings, storing the seed first when there is no record yet (the first
   * start of a deployment), subscribes to changes and starts the periodic reload. Rejects when the store
   * cannot be asked: an instance must not start on a guess.
   */
  static async open(
    store: Pick<Store, 'config' | 'pubsub'>,
    options: RoleCatalogOptions,
  ): Promise<RoleCatalog> {
    const catalog = new RoleCatalog(store, options);
    let record = await store.config.get(POLICY_RECORD);
    if (record === null) {
      const seed = JSON.stringify({ roles: options.seedRoles, mappings: options.seedMappings });
      const version = await store.config.put(POLICY_RECORD, seed, 0);
      if (version !== null) {
        options.logger.info({ version }, 'roles and mappings seeded from the configuration file');
        catalog.current = { ...catalog.current, version };
      } else {
        // Another instance seeded it between our read and our write: take what it stored.
        record = await store.config.get(POLICY_RECORD);
      }
    }
    if (record !== null) catalog.accept(record.value, record.version, true);
    catalog.unsubscribe = await store.pubsub.subscribe(POLICY_CHANGED_CHANNEL, () => {
      void catalog.reloadQuietly();
    });
    catalog.timer = setInterval(
      () => void catalog.reloadQuietly(),
      options.reloadIntervalMs ?? POLICY_RELOAD_INTERVAL_MS,
    );
    catalog.timer.unref();
    return catalog;
  }

  snapshot(): PolicySnapshot {
    return this.current;
  }

  roles(): readonly RoleConfig[] {
    return this.current.roles;
  }

  mappings(): readonly MappingConfig[] {
    return this.current.mappings;
  }

  /** Re-reads the stored record and takes it when it is newer than the snapshot. */
  async reload(): Promise<void> {
    const record = await this.store.config.get(POLICY_RECORD);
    if (record === null) {
      this.options.logger.warn('the stored roles and mappings are gone; keeping the ones in force');
      return;
    }
    if (record.version > this.current.version) this.accept(record.value, record.version, false);
  }

  /**
   * Applies `change` to the stored roles and mappings at `expectedVersion` (see the class contract).
   * `change` may throw an AppError (NotFoundError, ConflictError, ...) to refuse; nothing is written then.
   * The result is validated like the configuration file (ValidationError listing every problem).
   * A failed publish is logged, not thrown: the write stands and other instances reload within the interval.
   */
  async update(
    change: (current: PolicyContent) => PolicyContent,
    expectedVersion: number,
  ): Promise<PolicySnapshot> {
    const record = await this.store.config.get(POLICY_RECORD);
    const storedVersion = record?.version ?? 0;
    if (storedVersion !== expectedVersion) throw new PreconditionFailedError();
    let current: PolicyContent = { roles: this.current.roles, mappings: this.current.mappings };
    if (record !== null) {
      const stored = validatePolicy(parseJson(record.value), this.idps);
      // An invalid stored record was refused at load; the change applies to what is in force instead,
      // so a successful update also repairs the record.
      if (stored.ok) current = stored.value;
    }
    const next = validatePolicy(change(current), this.idps);
    if (!next.ok) throw new ValidationError(next.problems.join('; '));
    const version = await this.store.config.put(POLICY_RECORD, JSON.stringify(next.value), expectedVersion);
    if (version === null) throw new PreconditionFailedError();
    if (version > this.current.version) this.current = { ...next.value, version };
    try {
      await this.store.pubsub.publish(POLICY_CHANGED_CHANNEL, JSON.stringify({ v: 1, version }));
    } catch (error) {
      this.options.logger.error({ err: error, version }, 'could not announce a roles/mappings change');
    }
    return { ...next.value, version };
  }

  /** Stops listening and reloading. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsubscribe?.();
  }

  private async reloadQuietly(): Promise<void> {
    try {
      await this.reload();
    } catch (error) {
      // The store is unreachable: keep the snapshot in force (minting needs the store anyway).
      this.options.logger.warn({ err: error }, 'could not reload roles and mappings');
    }
  }

  /**
   * Takes a stored record when it validates. One that does not is refused loudly and the snapshot in
   * force is kept: the seed at start, else the last valid version. That is safe because what is kept was
   * validated (the configuration file at start, or an earlier record), whereas an unvalidated record could
   * hold a role whose policy cannot be rendered or a mapping to a role that does not exist. At start the
   * kept seed may grant what an admin has since removed from the store: the error log says so, and any
   * successful update through the admin API rewrites the record from the snapshot in force.
   * The snapshot takes the record's version either way, so admins edit against the stored version.
   */
  private accept(value: string, version: number, atStart: boolean): void {
    const result = validatePolicy(parseJson(value), this.idps);
    if (result.ok) {
      this.current = { ...result.value, version };
      return;
    }
    this.options.logger.error(
      { version, problems: result.problems.slice(0, 20) },
      atStart
        ? 'the stored roles and mappings are invalid; using the configuration file until an admin fixes them'
        : 'the stored roles and mappings are invalid; keeping the ones in force',
    );
    this.current = { ...this.current, version };
  }
}
